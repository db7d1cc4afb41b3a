"""Accounts (courtwatch/accounts.py): one per person, each with its own password, kept across set-ups."""
from __future__ import annotations

import base64
import hashlib

import pytest

from courtwatch import accounts

pytestmark = pytest.mark.unit

COURTS = [{"court_id": "SPC", "court_name": "最高人民法院", "level": "SUPREME", "province_code": None},
          {"court_id": "H11", "court_name": "北京市高级人民法院", "level": "HIGH", "province_code": "11"},
          {"court_id": "B110101", "court_name": "北京市东城区人民法院", "level": "BASIC", "province_code": "11"}]


def test_one_person_per_court_and_kind():
    people = {p.username: (p.kind, p.court_id) for p in accounts.demo_people(COURTS)}
    assert people == {"guidance-01": ("guidance", None), "analyst-01": ("analyst", None),
                      "h11-01": ("high_court", "H11"), "b110101-01": ("court", "B110101")}


def test_each_account_keeps_its_own_password(tmp_path):
    file = accounts.PasswordFile(str(tmp_path / "s" / "accounts.env"))
    first = file.ensure(["a-01", "b-01"])
    assert first["a-01"] != first["b-01"] and len(first["a-01"]) >= 16
    again = file.ensure(["a-01", "b-01", "c-01"])
    assert again["a-01"] == first["a-01"] and "c-01" in again
    assert (file.path.stat().st_mode & 0o777) == 0o600 and (file.path.parent.stat().st_mode & 0o777) == 0o700
    file.replace("a-01", "new")
    assert file.read() == {**again, "a-01": "new"}


def test_the_sql_endpoints_hash_is_pbkdf2_sha256():
    user, iterations, salt, digest = accounts.password_hash("analyst-01", "s3cret", b"0123456789abcdef").split(":")
    assert (user, int(iterations)) == ("analyst-01", accounts.PBKDF2_ITERATIONS)
    expected = hashlib.pbkdf2_hmac("sha256", b"s3cret", base64.b64decode(salt), int(iterations))
    assert base64.b64decode(digest) == expected
