"""The application spark-submit runs for each Airflow step: `courtwatch step ...`.

spark-submit runs a file and puts its folder first on sys.path: no module of
this package may share a name with the standard library or an installed
package (tests/test_layout.py checks).
"""
import sys

from courtwatch.cli import main

sys.exit(main())
