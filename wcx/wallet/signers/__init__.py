"""Signers: the `Signer` port, the PKCS#11 HSM signer and the development keystore signer."""

from wcx.wallet.signers.errors import InsecureKeyError, KeyNotFoundError, SignerError, SignerUnavailableError
from wcx.wallet.signers.ethereum import SignedEthereumTransaction, ethereum_address, sign_ethereum_transaction
from wcx.wallet.signers.hsm import Pkcs11Signer, generate_hot_key
from wcx.wallet.signers.keystore import KeystoreSigner
from wcx.wallet.signers.port import Signer
from wcx.wallet.signers.settings import SignerBackend, SignerSettings, build_signer
from wcx.wallet.signers.signature import Signature

__all__ = [
    "InsecureKeyError",
    "KeyNotFoundError",
    "KeystoreSigner",
    "Pkcs11Signer",
    "Signature",
    "SignedEthereumTransaction",
    "Signer",
    "SignerBackend",
    "SignerError",
    "SignerSettings",
    "SignerUnavailableError",
    "build_signer",
    "ethereum_address",
    "generate_hot_key",
    "sign_ethereum_transaction",
]
