"""The warehouse's jobs: plain functions over DataFrames."""
