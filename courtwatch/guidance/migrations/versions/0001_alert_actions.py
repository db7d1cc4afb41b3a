"""The guidance loop's action log: every accepted action of guidance.md, appended, never edited.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state_before", sa.String(16), nullable=False),
        sa.Column("state_after", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("due_date", sa.Date),
        sa.Column("label", sa.String(16)),
        # the next action of an alert has one number: of two taken at once, one is refused
        sa.UniqueConstraint("alert_id", "seq", name="alert_actions_one_next_action"),
    )
    op.create_index("alert_actions_alert_id", "alert_actions", ["alert_id"])
    if op.get_bind().dialect.name == "postgresql":
        # appended, never edited: not even by a hand that bypasses the service
        op.execute("""
            CREATE FUNCTION alert_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'alert_actions is append-only'; END $$;
            CREATE TRIGGER alert_actions_append_only BEFORE UPDATE OR DELETE ON alert_actions
            FOR EACH ROW EXECUTE FUNCTION alert_actions_append_only();
        """)
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER alert_actions_no_{what.lower()} BEFORE {what} ON alert_actions
                BEGIN SELECT RAISE(ABORT, 'alert_actions is append-only'); END;
            """)


def downgrade() -> None:
    op.drop_table("alert_actions")
