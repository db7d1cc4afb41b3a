"""The warehouse's tables as Airflow assets: DAGs are chained by the data they update."""
from airflow.sdk import Asset

from schemas import SOURCES

BRONZE = [Asset(f"courtwatch://warehouse/bronze/{s}") for s in SOURCES]  # ingest: the batches as received
SILVER = [Asset(f"courtwatch://warehouse/silver/{s}") for s in SOURCES]  # quality: the records that passed
GOLD = [Asset("courtwatch://warehouse/gold/court_metrics"), Asset("courtwatch://warehouse/gold/region_metrics")]
ALERTS = Asset("courtwatch://warehouse/gold/alerts")
# updated by the daily DAG's last step (publish): the day is closed, the warehouse is quiet
DAY_CLOSED = Asset("courtwatch://warehouse/day-closed")
SERVING = Asset("courtwatch://warehouse/serving")  # the dashboards' store, published by the publish step
