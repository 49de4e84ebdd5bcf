"""The LDAP / Active Directory realms file (the `ldap_config` setting; docs/users.md, "LDAP and
Active Directory"): one `[realms.NAME]` table per realm whose users a directory holds.

Read once at start; a wrong or missing value is one SettingsError line naming the file and the
key. The bind password is read from its file or environment variable here and kept out of every
repr, log line and error message.
"""

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from baoling.verifier.errors import InvalidRequest
from baoling.verifier.settings import SettingsError
from baoling.verifier.user_names import check_realm

DEFAULT_TIMEOUT_S = 5
# Bound connections a realm keeps for lookups; more validations at once wait for one.
DEFAULT_POOL_SIZE = 4
MAX_POOL_SIZE = 64
# How long a user the directory found is taken as found without asking it again: a user
# deleted from the directory is refused at the latest this long after (docs/users.md).
MAX_CACHE_S = 3600


class AttributeMap(BaseModel):
    """Which directory attribute holds what (OpenLDAP's inetOrgPerson names by default; Active
    Directory: sAMAccountName and objectGUID)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str = "uid"
    display_name: str = "displayName"
    email: str = "mail"
    phone: str = "telephoneNumber"
    # Stays with the entry for its whole life, and a re-created account gets a new one.
    id: str = "entryUUID"


class DirectorySettings(BaseModel):
    """One realm's directory: where it is, how to bind, where and how its users are found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: list[str] = Field(min_length=1)
    bind_dn: str
    bind_password_file: Path | None = None
    bind_password_env: str | None = None
    base_dn: str
    # ANDed with (login attribute=the escaped name); the name is never put into this text.
    user_filter: str = "(objectClass=inetOrgPerson)"
    tls: Literal["starttls", "ldaps", "none"] = "starttls"
    ca_file: Path | None = None
    tls_verify: bool = True
    # Whole seconds: ldap3 packs the receive timeout as an integer.
    timeout_seconds: int = Field(DEFAULT_TIMEOUT_S, ge=1)
    attributes: AttributeMap = AttributeMap()
    # What a door that carries a password (RADIUS, /validate/check) asks before the code: the
    # user's static PIN in the store, or the directory password, checked by a bind as the
    # user's entry (docs/users.md, "Password and code").
    first_factor: Literal["pin", "ldap_bind"] = "pin"
    pool_size: int = Field(DEFAULT_POOL_SIZE, ge=1, le=MAX_POOL_SIZE)
    # 0: every lookup asks the directory.
    cache_seconds: int = Field(0, ge=0, le=MAX_CACHE_S)

    @field_validator("urls")
    @classmethod
    def _ldap_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("ldap://", "ldaps://")):
                raise ValueError(f"{url!r} is not an ldap:// or ldaps:// URL")
        return urls

    @field_validator("user_filter")
    @classmethod
    def _a_filter(cls, text: str) -> str:
        if not (text.startswith("(") and text.endswith(")")):
            raise ValueError("must be an LDAP filter in parentheses, e.g. (objectClass=person)")
        return text

    @model_validator(mode="after")
    def _consistent(self) -> "DirectorySettings":
        if (self.bind_password_file is None) == (self.bind_password_env is None):
            raise ValueError("give exactly one of bind_password_file and bind_password_env")
        schemes = {url.split("://")[0] for url in self.urls}
        if self.tls == "ldaps" and schemes != {"ldaps"}:
            raise ValueError('tls = "ldaps" needs ldaps:// URLs')
        if self.tls != "ldaps" and "ldaps" in schemes:
            raise ValueError('ldaps:// URLs need tls = "ldaps"')
        return self

    def bind_password(self) -> str:
        """The password from its file (first line) or variable; SettingsError naming where it
        was looked for, never the password."""
        if self.bind_password_file is not None:
            try:
                lines = self.bind_password_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise SettingsError(
                    f"cannot read bind_password_file {self.bind_password_file}: "
                    f"{exc.strerror or exc}"
                ) from None
            password = lines[0] if lines else ""
            where = f"bind_password_file {self.bind_password_file}"
        else:
            assert self.bind_password_env is not None  # _consistent: exactly one is set
            password = os.environ.get(self.bind_password_env, "")
            where = f"environment variable {self.bind_password_env}"
        if not password:
            raise SettingsError(f"the bind password in {where} is empty or missing")
        return password


def load(path: Path) -> dict[str, DirectorySettings]:
    """Each realm's directory settings from the TOML file at `path`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"ldap_config: cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"realms"}
    if unknown:
        raise SettingsError(f"{path}: unknown key {sorted(unknown)[0]!r} (expected [realms.NAME])")
    realms: dict[str, DirectorySettings] = {}
    for realm, table in data.get("realms", {}).items():
        try:
            check_realm(realm)
        except InvalidRequest as exc:
            raise SettingsError(f"{path}: realms.{realm}: {exc}") from None
        try:
            realms[realm] = DirectorySettings.model_validate(table)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error["loc"])
            where = f"realms.{realm}.{key}" if key else f"realms.{realm}"
            message = str(error["msg"]).removeprefix("Value error, ")
            raise SettingsError(f"{path}: {where}: {message}") from None
    return realms
