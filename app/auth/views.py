"""Register, sign in and out, and manage one's account."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm

from app.auth import accounts
from app.auth.accounts import AccountError
from app.auth.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    LoginForm,
    RegisterForm,
)
from app.auth.redirects import safe_next
from app.extensions import db, limiter
from app.htmx import navigate_away, redirect_after_post, render, wants_fragment

bp = Blueprint("auth", __name__)

SIGN_IN_FAILED = "That email and password do not match an account."
CARRY_OVER_SIGN_IN = ("pending_follow", "pending_selection")


def submitted_account() -> str:
    """Rate-limit key for one account: the normalised email the form names."""
    raw = (request.form.get("email") or "")[:320]
    try:
        return "account:" + accounts.normalise_email(raw).key
    except AccountError:
        return "account:" + raw.strip().casefold()


def attempt_failed(response) -> bool:
    return response.status_code >= 400


def add_error(form: FlaskForm, error: AccountError) -> None:
    for name, message in error.problems:
        field = form[name] if name and name in form else None
        if field is None:
            form.form_errors.append(message)
        else:
            field.errors = [*field.errors, message]


def form_status(form: FlaskForm) -> int:
    return 422 if form.is_submitted() else 200


@bp.route("/auth/register", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"], error_message="Too many registrations")
@limiter.limit("5 per hour", methods=["POST"], key_func=submitted_account)
def register():
    if current_user.is_authenticated:
        return redirect_after_post(url_for("catalog.browse"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            accounts.register(db.session, form.email.data, form.password.data)
        except AccountError as error:
            add_error(form, error)
        else:
            # The same answer whether or not the address already had an account.
            flash("Thank you. Sign in with that email address and password to continue.")
            return redirect_after_post(
                url_for("auth.login", next=safe_next(request.args.get("next")))
            )
    return render("auth/register.html", "auth/_register_form.html", form_status(form), form=form)


@bp.route("/auth/login", methods=["GET", "POST"])
@limiter.limit("30 per minute; 200 per hour", methods=["POST"])
@limiter.limit(
    "10 per 15 minutes", methods=["POST"], key_func=submitted_account, deduct_when=attempt_failed
)
def login():
    destination = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect_after_post(destination)
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            # Nothing from before sign-in carries over (the CSRF token included) but the
            # follow a signed-out person asked for, which sign-in completes.
            pending = {key: session[key] for key in CARRY_OVER_SIGN_IN if key in session}
            session.clear()
            session.update(pending)
            login_user(user, remember=form.remember.data)
            return redirect_after_post(destination)
        form.form_errors.append(SIGN_IN_FAILED)
    return render("auth/login.html", "auth/_login_form.html", form_status(form), form=form)


@bp.post("/auth/logout")
def logout():
    if current_user.is_authenticated:
        accounts.end_sessions(db.session, current_user._get_current_object())
    session.clear()
    logout_user()  # after the clear: it leaves the note that deletes the remember cookie
    flash("You are signed out.")
    return redirect_after_post(url_for("catalog.browse"))


def account_page(status: int = 200, **forms: FlaskForm):
    forms = {
        "email_form": forms.get("email_form") or ChangeEmailForm(formdata=None),
        "password_form": forms.get("password_form") or ChangePasswordForm(formdata=None),
        "delete_form": forms.get("delete_form") or DeleteAccountForm(formdata=None),
    }
    return render("auth/account.html", "auth/account.html", status, **forms)


def account_form_response(form: FlaskForm, fragment: str, name: str):
    """A form with errors: the fragment for htmx's swaps, the whole account page otherwise
    (a boosted submission or a history restore needs the page with all three forms)."""
    if wants_fragment():
        return render("auth/account.html", fragment, 422, **{name: form})
    return account_page(422, **{name: form})


@bp.get("/account")
@login_required
def account():
    return account_page()


@bp.post("/account/email")
@login_required
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            accounts.change_email(
                db.session, current_user, form.email.data, form.current_password.data
            )
        except AccountError as error:
            add_error(form, error)
        else:
            flash("Your email address is changed.")
            return redirect_after_post(url_for("auth.account"))
    return account_form_response(form, "auth/_email_form.html", "email_form")


@bp.post("/account/password")
@login_required
@limiter.limit("10 per hour", deduct_when=attempt_failed)
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(
                db.session, user, form.current_password.data, form.new_password.data
            )
        except AccountError as error:
            add_error(form, error)
        else:
            remembered = request.cookies.get("remember_token") is not None
            session.clear()
            # This session carries the new version (all others are ended), and stays
            # remembered on this device if it was.
            login_user(user, remember=remembered)
            flash("Your password is changed. Other devices have been signed out.")
            return redirect_after_post(url_for("auth.account"))
    return account_form_response(form, "auth/_password_form.html", "password_form")


@bp.post("/account/delete")
@login_required
@limiter.limit("10 per hour", deduct_when=attempt_failed)
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            accounts.delete_account(
                db.session, current_user._get_current_object(), form.current_password.data
            )
        except AccountError as error:
            add_error(form, error)
        else:
            session.clear()
            logout_user()
            flash("Your account and everything in it have been deleted.")
            return redirect_after_post(url_for("catalog.browse"))
    return account_form_response(form, "auth/_delete_form.html", "delete_form")


def unauthorized():
    """A page that needs an account: to the sign-in page, and back here afterwards."""
    if request.headers.get("HX-Request") == "true":
        # Never swap a sign-in form into a fragment: send the whole page there instead.
        current = request.headers.get("HX-Current-URL", "")
        here = safe_next(_path_of(current), default=url_for("catalog.browse"))
        flash("Sign in to see that page.")
        return navigate_away(url_for("auth.login", next=here), 401)
    flash("Sign in to see that page.")
    here = request.full_path.rstrip("?") if request.method == "GET" else None
    return navigate_away(url_for("auth.login", next=safe_next(here)), 401)


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
