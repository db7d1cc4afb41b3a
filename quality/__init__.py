"""Data quality: Great Expectations suites derived from the contract."""
