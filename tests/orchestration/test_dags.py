"""Every DAG imports cleanly, follows the house rules, and has the expected shape."""
from __future__ import annotations

import pytest

from courtwatch import ROOT

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"courtwatch_daily", "courtwatch_maintenance"} <= set(dagbag.dag_ids)


def test_house_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "courtwatch" in dag.tags, dag_id
        assert dag.doc_md, f"{dag_id} says what it does"
        assert dag.max_active_runs == 1, f"{dag_id}: the warehouse has one writer at a time"
        for t in dag.tasks:
            assert t.on_failure_callback, f"{dag_id}.{t.task_id} has no failure callback"
            assert t.retries is not None


def test_daily_task_graph(dagbag):
    dag = dagbag.dags["courtwatch_daily"]
    down = {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}
    assert down == {
        "pull_court": {"find_waiting"},
        "find_waiting": {"ingestion_groups"},
        "ingestion_groups": {"ingest"},
        "ingest": {"quality"},
        "quality": {"metrics"},
        "metrics": {"alerts"},
        "alerts": {"notify"},
        "notify": {"publish"},
        "publish": set(),
    }
    # the same steps as `courtwatch run`, in its order (find_waiting and ingestion_groups plan the fan-out)
    from courtwatch.pipeline import STEP_NAMES

    task_of = {"pull": "pull_court"}
    chain = [task_of.get(s, s) for s in STEP_NAMES]
    assert all(chain[i + 1] in down[chain[i]] or chain[i] == "pull_court" for i in range(len(chain) - 1))
    # a broken court or province does not stop the rest of the day
    assert dag.get_task("find_waiting").trigger_rule == "all_done"
    assert dag.get_task("quality").trigger_rule == "all_done"
    # each Spark step is the command's own `courtwatch step` of the active profile (handed to the
    # profile's warm driver when it is up)
    from courtwatch.orchestration import run_step

    steps = {t.task_id: t.op_kwargs["step"] for t in dag.tasks
             if t.task_type == "PythonOperator" and t.task_id != "ingest"}  # ingest is mapped
    assert steps == {"find_waiting": "waiting", **{s: s for s in ("quality", "metrics", "alerts", "notify", "publish")}}
    assert all(dag.get_task(t).python_callable is run_step for t in steps)
    assert dag.get_task("ingest").partial_kwargs["python_callable"] is run_step
    assert not dag.get_task("publish").do_xcom_push
    # data, not the clock alone, chains the steps to their consumers
    outlets = {a.uri for t in dag.tasks for a in (getattr(t, "outlets", None) or [])}
    assert "courtwatch://warehouse/gold/alerts" in outlets
    assert "courtwatch://warehouse/silver/cases" in outlets and "courtwatch://warehouse/bronze/cases" in outlets
    assert [a.uri for a in dag.get_task("publish").outlets] == ["courtwatch://warehouse/serving",
                                                                 "courtwatch://warehouse/day-closed"]


def test_maintenance_runs_when_the_daily_dag_has_closed_a_day(dagbag):
    dag = dagbag.dags["courtwatch_maintenance"]
    assert [a.uri for a in dag.timetable.asset_condition.objects] == ["courtwatch://warehouse/day-closed"]
    assert [t.task_id for t in dag.tasks] == ["optimize_and_vacuum"]
