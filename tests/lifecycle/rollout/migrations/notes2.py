"""notes, expand: ``text`` beside ``body``, kept in step both ways while both versions write

Revision ID: notes2
Revises: notes1
"""

from alembic import op

revision = "notes2"
down_revision = "notes1"
phase = "expand"
# after the revision's transaction: writes go on while it builds (``lifecycle.phases``)
concurrently = ["CREATE INDEX CONCURRENTLY IF NOT EXISTS notes_text ON notes (text)"]

UPGRADE = """
ALTER TABLE notes ADD COLUMN text text;
CREATE FUNCTION notes_in_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.text := coalesce(NEW.text, NEW.body);
  NEW.body := coalesce(NEW.body, NEW.text);
  RETURN NEW;
END $$;
CREATE TRIGGER notes_in_step BEFORE INSERT OR UPDATE ON notes
  FOR EACH ROW EXECUTE FUNCTION notes_in_step();
UPDATE notes SET text = body WHERE text IS NULL;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TRIGGER notes_in_step ON notes; DROP FUNCTION notes_in_step();")
    op.drop_column("notes", "text")
