"""A tenant's files: ``/{tenant}/files`` to upload (streamed, sniffed, sealed with a key of the
file's own under the tenant's data key), list, read (with ranges) and delete them; the contents
in a file store (a local directory or S3-compatible object storage), under the tenant's prefix;
their size counts toward the tenant's storage quota."""

from pathlib import Path

from ..config import setting
from ..interfaces import IFiles, provide
from ..quotas import MB
from .resources import Files
from .service import FileService
from .storage import LocalStore, S3Store, s3_client

DEFAULT_MAX_MB = 100
BACKENDS = ("local", "s3")


def file_store(settings: dict):
    """The store the settings name (``tenantapp.files.storage``: ``local`` or ``s3``)."""
    backend = setting(settings, "tenantapp.files.storage", str, "local")
    if backend not in BACKENDS:
        from pyramid.exceptions import ConfigurationError

        raise ConfigurationError(f"tenantapp.files.storage = {backend!r}: local or s3")
    if backend == "local":
        default = Path(settings.get("tenantapp.data_dir") or "var") / "files"
        return LocalStore(Path(setting(settings, "tenantapp.files.dir", str, str(default))))
    bucket = setting(settings, "tenantapp.files.s3.bucket", str, "")
    if not bucket:
        from pyramid.exceptions import ConfigurationError

        raise ConfigurationError("tenantapp.files.storage = s3 needs tenantapp.files.s3.bucket")
    client = s3_client(
        setting(settings, "tenantapp.files.s3.endpoint_url", str, ""),
        setting(settings, "tenantapp.files.s3.region", str, ""),
        setting(settings, "tenantapp.files.s3.access_key_id", str, ""),
        setting(settings, "tenantapp.files.s3.secret_access_key", str, ""),
    )
    return S3Store(client, bucket, setting(settings, "tenantapp.files.s3.prefix", str, ""))


def includeme(config):
    settings = config.get_settings()
    max_mb = setting(settings, "tenantapp.files.max_size_mb", int, DEFAULT_MAX_MB, minimum=1)
    scan_task = setting(settings, "tenantapp.files.scan_task", str, "")
    keep = setting(settings, "tenantapp.files.keep_deleted_days", int, 7, minimum=0)
    provide(config, FileService(file_store(settings), max_mb * MB, scan_task, keep), IFiles)
    config.scan(".sweeping")
    config.include("tenantapp.tenancy.resources")
    config.add_tenant_resource("files", Files)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
