"""Account forms: shape checks here; the rules themselves live in auth.accounts."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, InputRequired, Length

from app.auth.accounts import MAX_EMAIL_LENGTH
from app.auth.passwords import MAX_LENGTH, MIN_LENGTH

EMAIL_LENGTH = Length(max=MAX_EMAIL_LENGTH, message="That email address is too long.")
PASSWORD_HINT = f"At least {MIN_LENGTH} characters. A long passphrase is best; any characters work."


def email_field(label: str = "Email address") -> EmailField:
    return EmailField(label, validators=[InputRequired("Enter your email address."), EMAIL_LENGTH])


def password_field(label: str, message: str, hint: str = "") -> PasswordField:
    length = Length(max=MAX_LENGTH, message=f"Use at most {MAX_LENGTH} characters.")
    return PasswordField(label, validators=[InputRequired(message), length], description=hint)


class RegisterForm(FlaskForm):
    email = email_field()
    password = password_field("Password", "Choose a password.", PASSWORD_HINT)


class LoginForm(FlaskForm):
    email = email_field()
    password = password_field("Password", "Enter your password.")
    remember = BooleanField("Keep me signed in on this device for 30 days")


class ChangeEmailForm(FlaskForm):
    email = email_field("New email address")
    current_password = password_field("Current password", "Enter your current password.")


class ChangePasswordForm(FlaskForm):
    current_password = password_field("Current password", "Enter your current password.")
    new_password = password_field("New password", "Choose a new password.", PASSWORD_HINT)


class DeleteAccountForm(FlaskForm):
    current_password = password_field("Current password", "Enter your current password.")
    confirm = BooleanField(
        "I understand that my account and everything in it will be deleted for good",
        validators=[DataRequired("Tick the box to confirm.")],
    )


class SignOutForm(FlaskForm):
    """Nothing but the CSRF token: signing out is a POST."""
