"""The application spark-submit runs for each Airflow step: `courtwatch step ...`.

It lives at the repository root because spark-submit runs a file, and a file
inside the courtwatch package would put that package first on sys.path, where
courtwatch/calendar.py would hide the standard library's calendar module.
"""
import sys

from courtwatch.cli import main

sys.exit(main())
