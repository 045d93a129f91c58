"""Chains, assets and watch-only keys from `config/chains.toml`, with environment overrides.

Environment (also `.env` and secret files, like `wcx.config.settings`): CHAINS_FILE, ETH_RPC_URL,
BTC_RPC_URL, ETH_XPUB, BTC_XPUB, USDT_CONTRACT, DEPOSIT_WATCHERS (false: never start them).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from eth_utils import is_address, is_checksum_address, to_checksum_address
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from wcx.wallet.addresses import AddressError, derive_address

DEFAULT_CHAINS_FILE = Path(__file__).resolve().parents[2] / "config" / "chains.toml"

# Account keys of the public BIP-39 test mnemonic ("abandon" x11 + "about"): development only.
PUBLIC_TEST_KEYS = frozenset(
    {
        "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt",
        "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc",
        "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs",
    }
)


class ChainConfigError(ValueError):
    """The chains file or an override is unusable; the message names the entry."""


class Network(StrEnum):
    """Which network of a chain the exchange runs on."""

    MAINNET = "mainnet"
    TESTNET = "testnet"
    REGTEST = "regtest"
    LOCAL = "local"


class ChainKind(StrEnum):
    """Which adapter serves a chain."""

    ETHEREUM = "ethereum"
    BITCOIN = "bitcoin"


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """An asset on a chain: decimals, confirmations before credit, and its token contract ("" = native)."""

    code: str
    decimals: int
    confirmations: int
    token: bool = False
    contract: str = ""

    @property
    def available(self) -> bool:
        """Whether deposits can be watched: native, or a token with a contract on this network."""
        return not self.token or bool(self.contract)


@dataclass(frozen=True, slots=True)
class ChainSpec:
    """One chain: its network, the account-level extended public key and its assets."""

    name: str
    kind: ChainKind
    network: Network
    xpub: str
    assets: tuple[AssetSpec, ...]
    scan_window: int = 20
    poll_interval_s: float = 5.0
    internal_addresses: frozenset[str] = frozenset()
    rpc_url: str = ""
    start_height: int | None = None

    def asset(self, code: str) -> AssetSpec:
        """The asset `code` on this chain (KeyError if absent)."""
        for spec in self.assets:
            if spec.code == code:
                return spec
        raise KeyError(code)

    @property
    def max_confirmations(self) -> int:
        """The deepest confirmation requirement among the chain's assets."""
        return max(a.confirmations for a in self.assets)


@dataclass(frozen=True, slots=True)
class ChainsConfig:
    """Every configured chain."""

    chains: tuple[ChainSpec, ...]

    def chain(self, name: str) -> ChainSpec:
        """The chain called `name` (KeyError if absent)."""
        for spec in self.chains:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def locate(self, asset: str) -> tuple[ChainSpec, AssetSpec]:
        """The chain an asset lives on and its spec there (KeyError if no chain carries it)."""
        for chain in self.chains:
            for spec in chain.assets:
                if spec.code == asset:
                    return chain, spec
        raise KeyError(asset)

    def check_scales(self, scales: Mapping[str, int]) -> None:
        """Each asset's decimals must equal the engine's scale for it (and the engine must know it)."""
        for chain in self.chains:
            for spec in chain.assets:
                if scales.get(spec.code) != spec.decimals:
                    raise ChainConfigError(
                        f"{chain.name}.{spec.code}: {spec.decimals} decimals, "
                        f"the engine's scale is {scales.get(spec.code)}"
                    )


class WalletSettings(BaseSettings):
    """Wallet settings from the environment, `.env` and secret files."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    chains_file: Path | None = None
    eth_rpc_url: SecretStr = SecretStr("")
    btc_rpc_url: SecretStr = SecretStr("")
    eth_xpub: str = ""
    btc_xpub: str = ""
    usdt_contract: str = ""
    deposit_watchers: bool = True


def _asset(entry: Mapping[str, Any], kind: ChainKind, network: Network, where: str) -> AssetSpec:
    try:
        code, decimals, confirmations = (
            str(entry["code"]),
            int(entry["decimals"]),
            int(entry["confirmations"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainConfigError(f"{where}: asset needs code, decimals and confirmations ({exc})") from None
    if not 0 <= decimals <= 18 or confirmations < 1:
        raise ChainConfigError(f"{where}.{code}: decimals 0..18 and at least 1 confirmation")
    contracts = entry.get("contracts")
    if contracts is None:
        return AssetSpec(code, decimals, confirmations)
    if kind is not ChainKind.ETHEREUM or not isinstance(contracts, Mapping):
        raise ChainConfigError(f"{where}.{code}: token contracts exist only on Ethereum chains")
    contract = str(contracts.get(network.value, ""))
    return AssetSpec(
        code, decimals, confirmations, token=True, contract=_ethereum_address(contract, f"{where}.{code}")
    )


def _ethereum_address(address: str, where: str) -> str:
    """The EIP-55 form; a mixed-case address with a wrong checksum is a typo, not an address."""
    if not address:
        return ""
    body = address[2:]
    mixed = body not in (body.lower(), body.upper())
    if not is_address(address) or (mixed and not is_checksum_address(address)):
        raise ChainConfigError(f"{where}: {address!r} is not an Ethereum address (or its checksum is wrong)")
    return str(to_checksum_address(address))


def _chain(entry: Mapping[str, Any]) -> ChainSpec:
    name = str(entry.get("name", ""))
    where = f"chain {name!r}"
    try:
        kind, network = ChainKind(entry.get("kind", name)), Network(entry.get("network", ""))
    except ValueError as exc:
        raise ChainConfigError(f"{where}: {exc}") from None
    assets = tuple(_asset(a, kind, network, where) for a in entry.get("assets", []))
    if not name or not assets:
        raise ChainConfigError(f"{where}: a chain needs a name and at least one asset")
    natives = [a for a in assets if not a.token]
    if len(natives) != 1:
        raise ChainConfigError(f"{where}: exactly one native asset expected, found {len(natives)}")
    window, interval = int(entry.get("scan_window", 20)), float(entry.get("poll_interval_s", 5))
    if not 1 <= window <= 1000 or interval <= 0:
        raise ChainConfigError(f"{where}: scan_window 1..1000 and a positive poll_interval_s")
    start = entry.get("start_height")
    internal = frozenset(
        _ethereum_address(str(a), where) if kind is ChainKind.ETHEREUM else str(a).lower()
        for a in entry.get("internal_addresses", [])
    )
    return ChainSpec(
        name=name,
        kind=kind,
        network=network,
        xpub=str(entry.get("xpub", "")),
        assets=assets,
        scan_window=window,
        poll_interval_s=interval,
        internal_addresses=internal,
        rpc_url=str(entry.get("rpc_url", "")),
        start_height=None if start is None else int(start),
    )


def _override(chain: ChainSpec, settings: WalletSettings) -> ChainSpec:
    """Environment values win over the file (secrets such as RPC credentials live there)."""
    ethereum = chain.kind is ChainKind.ETHEREUM
    url = (settings.eth_rpc_url if ethereum else settings.btc_rpc_url).get_secret_value()
    xpub = settings.eth_xpub if ethereum else settings.btc_xpub
    assets = chain.assets
    if settings.usdt_contract:
        contract = _ethereum_address(settings.usdt_contract, "USDT_CONTRACT")
        assets = tuple(replace(a, contract=contract) if a.code == "USDT" and a.token else a for a in assets)
    return replace(chain, rpc_url=url or chain.rpc_url, xpub=xpub or chain.xpub, assets=assets)


def _check_key(chain: ChainSpec, development: bool) -> None:
    if chain.xpub in PUBLIC_TEST_KEYS and not development:
        raise ChainConfigError(
            f"{chain.name}: the configured key belongs to the public test mnemonic; "
            "set a real one (ETH_XPUB / BTC_XPUB) outside development"
        )
    try:
        derive_address(chain.kind, chain.network, chain.xpub, 0)
    except AddressError as exc:
        raise ChainConfigError(f"{chain.name}: xpub: {exc}") from None


def parse_chains(
    doc: Mapping[str, Any], settings: WalletSettings | None = None, *, development: bool = True
) -> ChainsConfig:
    """Validate a parsed chains document (environment overrides applied) into a ChainsConfig."""
    chains = tuple(_chain(entry) for entry in doc.get("chains", []))
    if settings is not None:
        chains = tuple(_override(chain, settings) for chain in chains)
    seen: set[str] = set()
    for chain in chains:
        codes = {a.code for a in chain.assets}
        if chain.name in seen or codes & seen or len(codes) != len(chain.assets):
            raise ChainConfigError(f"chain {chain.name!r}: a chain or an asset is configured twice")
        seen |= codes | {chain.name}
        _check_key(chain, development)
    return ChainsConfig(chains)


def load_chains(settings: WalletSettings | None = None, *, development: bool = True) -> ChainsConfig:
    """Read the chains file (CHAINS_FILE or the shipped default) with environment overrides."""
    settings = settings if settings is not None else WalletSettings()
    path = settings.chains_file or DEFAULT_CHAINS_FILE
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ChainConfigError(f"{path}: {exc}") from None
    return parse_chains(doc, settings, development=development)
