"""Demo data: a court registry and a landing zone of daily batches (exchange.md)."""
