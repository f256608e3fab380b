"""The account rules, called without a request."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from app.auth import accounts
from app.auth.accounts import AccountError, normalise_email
from app.auth.passwords import common_passwords, hash_password, password_problems
from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, create_user


def test_email_is_trimmed_and_its_domain_lower_cased():
    address = normalise_email("  Ann.Smith@Example.COM ")
    assert address.display == "Ann.Smith@example.com"
    assert address.key == "ann.smith@example.com"


@pytest.mark.parametrize(
    "raw", ["", "   ", "no-at-sign", "a@", "@b.com", "a b@c.com", "x" * 250 + "@e.com"]
)
def test_invalid_emails_are_refused_with_a_reason(raw):
    with pytest.raises(AccountError) as caught:
        normalise_email(raw)
    assert caught.value.field == "email"


def test_email_uniqueness_ignores_case(app):
    create_user("Ann@Example.com")
    assert accounts.register(db.session, "ann@EXAMPLE.COM", PASSWORD) is None
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_uniqueness_is_enforced_by_the_database_too(app):
    create_user("ann@example.com")
    db.session.add(User(email="ANN@example.com", email_key="ann@example.com", password_hash="x"))
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("short12", False),  # 7 characters
        ("zq8vk2m!", True),  # exactly 8
        ("x" * 64, True),
        ("x" * 1024, True),
        ("x" * 1025, False),
        ("pässwörd-ünïcødé-🙂", True),
        ("password", False),
        ("Password1", False),  # common, whatever the case
        ("qwertyuiop", False),
        ("no rules, just length", True),
    ],
)
def test_password_rules(password, accepted):
    assert (password_problems(password) == []) is accepted


def test_the_common_password_list_is_large():
    assert len(common_passwords()) >= 10_000


def test_the_email_is_not_a_password():
    assert password_problems("ann.smith@example.com", "ann.smith@example.com")


def test_hash_is_argon2id_at_owasp_parameters(app):
    user = create_user("ann@example.com")
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in user.password_hash


def test_long_passwords_are_not_truncated(app):
    long_password = "p" * 63 + "Q" + "long tail that must count"
    create_user("ann@example.com", long_password)
    assert accounts.authenticate(db.session, "ann@example.com", long_password)
    assert accounts.authenticate(db.session, "ann@example.com", long_password[:-1]) is None
    assert accounts.authenticate(db.session, "ann@example.com", long_password[:64]) is None


def test_unicode_passwords_are_normalised(app):
    create_user("ann@example.com", "caf\u00e9 au lait, s'il vous plait")  # é precomposed
    assert accounts.authenticate(
        db.session, "ann@example.com", "cafe\u0301 au lait, s'il vous plait"
    )


def test_old_hash_parameters_are_upgraded_at_sign_in(app):
    user = create_user("ann@example.com")
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(
        PASSWORD
    )
    db.session.commit()
    assert accounts.authenticate(db.session, "ann@example.com", PASSWORD) is not None
    db.session.refresh(user)
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_authenticate_refuses_wrong_password_and_unknown_email(app):
    create_user("ann@example.com")
    assert accounts.authenticate(db.session, "ann@example.com", "wrong password here") is None
    assert accounts.authenticate(db.session, "nobody@example.com", PASSWORD) is None
    assert accounts.authenticate(db.session, "not an email", PASSWORD) is None


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(app):
    user = create_user("ann@example.com")
    version = user.session_version
    with pytest.raises(AccountError) as caught:
        accounts.change_password(db.session, user, "wrong", "another long passphrase")
    assert caught.value.field == "current_password"
    accounts.change_password(db.session, user, PASSWORD, "another long passphrase")
    assert user.session_version == version + 1
    assert accounts.authenticate(db.session, "ann@example.com", "another long passphrase")


def test_a_weak_new_password_is_refused(app):
    user = create_user("ann@example.com")
    with pytest.raises(AccountError) as caught:
        accounts.change_password(db.session, user, PASSWORD, "password1")
    assert caught.value.field == "new_password"


def test_changing_email_to_a_taken_one_is_refused(app):
    create_user("bob@example.com")
    ann = create_user("ann@example.com")
    with pytest.raises(AccountError, match="cannot be used"):
        accounts.change_email(db.session, ann, "BOB@example.com", PASSWORD)
    accounts.change_email(db.session, ann, "Ann.New@Example.com", PASSWORD)
    assert ann.email == "Ann.New@example.com"


def test_deleting_needs_the_password_and_removes_the_row(app):
    ann = create_user("ann@example.com")
    with pytest.raises(AccountError):
        accounts.delete_account(db.session, ann, "wrong")
    accounts.delete_account(db.session, ann, PASSWORD)
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_login_id_carries_the_session_version(app):
    ann = create_user("ann@example.com")
    login_id = ann.get_id()
    assert accounts.user_for_login_id(db.session, login_id) is ann
    accounts.end_sessions(db.session, ann)
    assert accounts.user_for_login_id(db.session, login_id) is None
    assert accounts.user_for_login_id(db.session, ann.get_id()) is ann
    for junk in ("", "1", "x:y", f"{ann.id}:", ":1", "99999:1"):
        assert accounts.user_for_login_id(db.session, junk) is None


def test_hashing_is_slow_enough_to_matter():
    # Not a timing assertion: the parameters are what makes guessing expensive.
    assert "m=19456,t=2,p=1" in hash_password("anything at all")


def test_a_bad_email_and_a_weak_password_are_reported_together(app):
    with pytest.raises(AccountError) as caught:
        accounts.register(db.session, "not-an-email", "short")
    assert [field for field, _ in caught.value.problems] == ["email", "password"]
