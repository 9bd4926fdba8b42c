"""Drive ferry's FTP server with Python's ftplib; print one JSON object of observations.

Usage: python3 ftplib_client.py PORT LOCAL_DIR
"""
import ftplib
import io
import json
import sys

port, local = int(sys.argv[1]), sys.argv[2]
out = {}
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=20)
ftp.login("user", "pass")
out["pwd"] = ftp.pwd()
out["mlsd"] = sorted([name, facts] for name, facts in ftp.mlsd("/tree"))
out["size"] = ftp.size("/tree/file.bin")
out["mdtm"] = ftp.sendcmd("MDTM /tree/file.bin")
out["mfmt"] = ftp.sendcmd("MFMT 20200102030405 /tree/file.bin")
out["mdtm_after"] = ftp.sendcmd("MDTM /tree/file.bin")

# REST + RETR: the tail of the file from byte 1000
tail = io.BytesIO()
ftp.retrbinary("RETR /tree/file.bin", tail.write, rest=1000)
with open(f"{local}/tail.bin", "wb") as f:
    f.write(tail.getvalue())

# STOR, then REST + STOR to finish a half upload
with open(f"{local}/upload.bin", "rb") as f:
    data = f.read()
ftp.storbinary("STOR /up.bin", io.BytesIO(data[:5000]))
ftp.sendcmd("TYPE I")
conn = ftp.transfercmd("STOR /up.bin", rest=5000)
conn.sendall(data[5000:])
conn.close()
out["rest_stor"] = ftp.voidresp()

# ASCII mode converts line ends both ways
ftp.storlines("STOR /lines.txt", io.BytesIO(b"one\ntwo\n"))
got = []
ftp.retrlines("RETR /lines.txt", got.append)
out["lines"] = got
out["nlst"] = sorted(ftp.nlst("/tree"))
out["mlst"] = ftp.sendcmd("MLST /tree/file.bin")
out["quit"] = ftp.quit()
print(json.dumps(out))
