"""Personal data leaves bronze only as a keyed hash (HMAC-SHA256).

The key comes from configuration (courtwatch/settings.py, Profile.hash_key) and is passed in. It is
captured in the function's closure rather than written into a SQL expression,
so it never appears in a query plan, the Spark UI or a log.
"""
from __future__ import annotations

import hashlib
import hmac

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T


def normalise(value: str) -> str:
    # The same person written with stray spaces or a lower-case check letter
    # (ID numbers end in X) must still link.
    return value.strip().upper()


def hmac_hex(key: bytes, value: str) -> str:
    return hmac.new(key, normalise(value).encode("utf-8"), hashlib.sha256).hexdigest()


def keyed_hash(key: bytes, column: Column, is_list: bool) -> Column:
    """The HMAC of a string column, or of each element of a list column."""
    if is_list:
        @F.pandas_udf(T.ArrayType(T.StringType()))
        def hash_list(values: pd.Series) -> pd.Series:
            return values.map(lambda xs: None if xs is None else [None if x is None else hmac_hex(key, x) for x in xs])

        return hash_list(column)

    @F.pandas_udf(T.StringType())
    def hash_one(values: pd.Series) -> pd.Series:
        return values.map(lambda x: None if x is None else hmac_hex(key, x))

    return hash_one(column)
