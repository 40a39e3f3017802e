"""Yardstick 1: a single-tenant app on the same stack, written the way the Pyramid cookiecutter
(sqlalchemy backend) and the wiki2 tutorial's security chapter would write it.

Pyramid + pyramid_tm + zope.sqlalchemy + SQLAlchemy ORM + waitress; URL dispatch; one plain
schema; a bearer token looked up per request by the security policy; the same JSON as tenantapp.

    python -m bench.baseline --url URL --port 6544 [--threads 8 --pool-size 10]
"""

import hashlib
from datetime import datetime

import zope.sqlalchemy
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPNotFound
from pyramid.request import RequestLocalCache
from pyramid.security import Allowed, Denied
from pyramid.view import view_config
from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    engine_from_config,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from .yardstick import serve


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[bytes] = mapped_column(LargeBinary)  # the bench's names: UTF-8, not sealed
    role: Mapped[str] = mapped_column(String(16), server_default="member")
    password_hash: Mapped[str | None] = mapped_column(String(200), deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


FIELDS = ("id", "email", "name", "role")


def user_json(user: User) -> dict:
    data = {field: getattr(user, field) for field in FIELDS}
    data["name"] = data["name"].decode()
    data |= {"created_at": user.created_at.isoformat(), "updated_at": user.updated_at.isoformat()}
    return data


class SecurityPolicy:
    def __init__(self):
        self.cache = RequestLocalCache(self.load_identity)

    def load_identity(self, request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        return request.dbsession.scalar(
            select(User)
            .join(Token, Token.user_id == User.id)
            .where(Token.token_hash == token_hash, Token.expires_at > func.now())
        )

    def identity(self, request):
        return self.cache.get_or_create(request)

    def authenticated_userid(self, request):
        user = self.identity(request)
        return None if user is None else user.id

    def permits(self, request, context, permission):
        if self.identity(request) is None:
            return Denied("not logged in")
        return Allowed("logged in")

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


@view_config(route_name="user", renderer="json", permission="view")
def get_user(request):
    user = request.dbsession.get(User, int(request.matchdict["id"]))
    if user is None:
        raise HTTPNotFound()
    return user_json(user)


@view_config(route_name="users", renderer="json", permission="view")
def list_users(request):
    limit = min(int(request.params.get("limit", 50)), 200)
    after = int(request.params.get("after", 0))
    rows = request.dbsession.scalars(
        select(User).where(User.id > after).order_by(User.id).limit(limit + 1)
    ).all()
    page = rows[:limit]
    next_url = None
    if len(rows) > limit:
        next_url = request.route_url("users", _query={"limit": limit, "after": page[-1].id})
    return {"items": [user_json(u) for u in page], "limit": limit, "next": next_url}


def get_tm_session(session_factory, transaction_manager, request=None):
    dbsession = session_factory(info={"request": request})
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


def main(global_config, authenticate: bool = True, **settings):
    """The app; without ``authenticate``, no security policy (every view open to anyone)."""
    with Configurator(settings=settings) as config:
        settings = config.get_settings()
        settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
        config.include("pyramid_tm")
        engine = engine_from_config(settings, "sqlalchemy.")
        session_factory = sessionmaker(bind=engine)
        config.registry["dbsession_factory"] = session_factory
        config.add_request_method(
            lambda r: get_tm_session(session_factory, r.tm, request=r), "dbsession", reify=True
        )
        if authenticate:
            config.set_security_policy(SecurityPolicy())
        config.add_route("user", "/users/{id:\\d+}")
        config.add_route("users", "/users")
        config.scan(__name__)
    return config.make_wsgi_app()


def make_app(url: str, pool_size: int, authenticate: bool = True):
    settings = {"sqlalchemy.url": url, "sqlalchemy.pool_size": str(pool_size)}
    return main({}, authenticate, **settings, **{"sqlalchemy.max_overflow": "0"})


if __name__ == "__main__":
    serve(__doc__, make_app)
