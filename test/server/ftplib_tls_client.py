"""Drive ferry's FTPS server with Python's ftplib.FTP_TLS; print one JSON object.

Usage: python3 ftplib_tls_client.py PORT CAFILE LOCAL_DIR
ftplib's data connections do not resume the control connection's TLS session, so against
a server that requires reuse the first transfer is refused; the reply is reported.
"""
import ftplib
import io
import json
import ssl
import sys

port, cafile, local = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
ctx = ssl.create_default_context(cafile=cafile)
ftp = ftplib.FTP_TLS(context=ctx)
ftp.connect("127.0.0.1", port, timeout=20)
out["auth"] = ftp.auth()
out["login"] = ftp.login("user", "pass")
out["prot"] = ftp.prot_p()
try:
    buf = io.BytesIO()
    ftp.retrbinary("RETR down.bin", buf.write)
    out["retr"] = buf.getvalue().hex()
    with open(local + "/up.bin", "rb") as f:
        out["stor"] = ftp.storbinary("STOR up.bin", f)
    out["nlst"] = sorted(ftp.nlst())
except ftplib.Error as e:
    out["error"] = str(e)
except (ssl.SSLError, OSError) as e:
    # A refused data connection is cut right after its handshake, which ftplib's unwrap()
    # reports as an SSL error; the server's final reply is still waiting on the control
    # connection.
    out["data_error"] = str(e)
    try:
        out["error"] = ftp.getresp()
    except ftplib.Error as reply:
        out["error"] = str(reply)
out["quit"] = ftp.quit()
print(json.dumps(out))
