"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

revision = ${py(up_revision)}
down_revision = ${py(down_revision)}
branch_labels = ${py(branch_labels)}
depends_on = ${py(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
<%!
def py(value):
    """Python source for a revision value, in the double quotes ruff format writes."""
    return repr(value).replace("'", '"')
%>