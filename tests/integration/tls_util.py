"""Test certificates, made fresh in the test's temporary folder with the
python `cryptography` package: a CA, a server certificate for 127.0.0.1
and localhost, client certificates signed by the CA, and one signed by
another CA (untrusted)."""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(**attrs):
    oids = {"CN": NameOID.COMMON_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "O": NameOID.ORGANIZATION_NAME, "C": NameOID.COUNTRY_NAME}
    # Most general first, as certificates encode it.
    order = ["C", "O", "OU", "CN"]
    return x509.Name([x509.NameAttribute(oids[k], attrs[k])
                      for k in order if k in attrs])


def _cert(subject, key, issuer, issuer_key, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem_key(key, password=None):
    enc = (serialization.BestAvailableEncryption(password.encode())
           if password else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8, enc)


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class Certs:
    """Files under folder: ca.pem, server.pem (key + chain),
    server-key.pem, server-chain.pem, client.key/.crt and client.pem (key
    and certificate, CN=client,OU=test,O=x), rogue.key/.crt (another CA), server-enc.pem (key encrypted with
    'secret')."""

    def __init__(self, folder):
        self.dir = folder
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name(CN="brokerd test CA", O="x")
        ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
        srv_key = ec.generate_private_key(ec.SECP256R1())
        srv = _cert(_name(CN="localhost", O="x"), srv_key, ca_name, ca_key,
                    san=[x509.DNSName("localhost"),
                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        cli_key = ec.generate_private_key(ec.SECP256R1())
        cli = _cert(_name(CN="client", OU="test", O="x"), cli_key, ca_name,
                    ca_key)
        self._ca = (ca_name, ca_key)
        rogue_ca_key = ec.generate_private_key(ec.SECP256R1())
        rogue_ca = _name(CN="rogue CA")
        rogue_key = ec.generate_private_key(ec.SECP256R1())
        rogue = _cert(_name(CN="rogue"), rogue_key, rogue_ca, rogue_ca_key)
        self.chain_pem = _pem_cert(srv) + _pem_cert(ca)
        self.key_pem = _pem_key(srv_key)
        self.ca_pem = _pem_cert(ca)
        self._write("ca.pem", self.ca_pem)
        self._write("server.pem", self.key_pem + self.chain_pem)
        self._write("server-enc.pem", _pem_key(srv_key, "secret") +
                    self.chain_pem)
        self._write("client.key", _pem_key(cli_key))
        self._write("client.crt", _pem_cert(cli))
        self._write("client.pem", _pem_key(cli_key) + _pem_cert(cli))
        self._write("rogue.key", _pem_key(rogue_key))
        self._write("rogue.crt", _pem_cert(rogue))

    def client(self, name, **subject):
        """Another client certificate signed by the CA, with the given
        subject (e.g. CN="alice", O="x"): writes name.crt, name.key and
        name.pem (key and certificate); returns (crt path, key path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name(**subject), key, self._ca[0], self._ca[1])
        self._write(name + ".key", _pem_key(key))
        self._write(name + ".crt", _pem_cert(cert))
        self._write(name + ".pem", _pem_key(key) + _pem_cert(cert))
        return self.path(name + ".crt"), self.path(name + ".key")

    def _write(self, name, data):
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)

    def path(self, name):
        return os.path.join(self.dir, name)
