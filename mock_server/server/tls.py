"""``serve --tls``: a certificate for 127.0.0.1, localhost and ::1, made on the fly by a CA of
its own, whose certificate is written where clients can be pointed at it (``SSL_CERT_FILE``,
``NODE_EXTRA_CA_CERTS``)."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path


def local_tls_context() -> tuple[ssl.SSLContext, tempfile.TemporaryDirectory[str], Path]:
    """(the server's context, the folder holding the CA's certificate, its path)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    folder = tempfile.TemporaryDirectory(prefix="realtime-mock-tls-")
    ca_path = Path(folder.name) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return context, folder, ca_path
