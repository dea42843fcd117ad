//! Conversions between items and records: one writer and one reader per kind of item.

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{
    BODY, COUNT, DEVICE_ENROLLED_AT, DEVICE_ID, DEVICE_SECRET, EXPIRES_AT, Item, LAST_STEP, POLICY,
    POLICY_VERSION, TOTP_FAILURES, TOTP_LOCKED_UNTIL, USER_ID, VERSION, WINDOW_ENDS_AT, corrupt,
    from_json, item, n, num, opt_str, opt_time, put_opt, s, str, t, time, to_json,
};
use super::keys::{self, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, Key, TTL};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, EventId, UserId};
use crate::domain::model::{
    Account, AuditEvent, Challenge, ClientVersion, Device, DeviceGroup, Policy, Role, SealedSecret,
    Session, User,
};
use crate::domain::token::TokenHash;
use crate::ports::{Counter, StoreError};

pub(super) fn account_item(a: &Account) -> Result<Item, StoreError> {
    Ok(item(
        &keys::account(&a.id),
        vec![
            ("id", s(a.id.as_str())),
            ("name", s(a.name.as_str())),
            (POLICY, to_json(&a.policy, "policy")?),
            (POLICY_VERSION, n(a.policy.version)),
            ("created_at", t(a.created_at)?),
            (GSI1_PK, s(keys::ACCOUNTS)),
            (GSI1_SK, s(keys::created(a.created_at, a.id.as_str())?)),
        ],
    ))
}

/// The policy JSON for an update; its version is written beside it in the same request.
pub(super) fn policy_json(p: &Policy) -> Result<AttributeValue, StoreError> {
    to_json(p, "policy")
}

/// Reads an account; `policy_version`, which the compare-and-swap tests, is the policy's version.
pub(super) fn account(i: &Item) -> Result<Account, StoreError> {
    let mut policy: Policy = from_json(i, POLICY)?;
    policy.version = num(i, POLICY_VERSION)?;
    Ok(Account {
        id: AccountId::from_raw(str(i, "id")?),
        name: str(i, "name")?.to_owned(),
        policy,
        created_at: time(i, "created_at")?,
    })
}

pub(super) fn group_item(g: &DeviceGroup) -> Result<Item, StoreError> {
    Ok(item(
        &keys::group(&g.account_id, &g.name),
        vec![
            ("account_id", s(g.account_id.as_str())),
            ("name", s(g.name.as_str())),
            ("client_major", n(g.client.major)),
            ("client_minor", n(g.client.minor)),
            ("client_build", n(g.client.build)),
            ("updated_at", t(g.updated_at)?),
        ],
    ))
}

pub(super) fn group(i: &Item) -> Result<DeviceGroup, StoreError> {
    Ok(DeviceGroup {
        account_id: AccountId::from_raw(str(i, "account_id")?),
        name: str(i, "name")?.to_owned(),
        client: ClientVersion {
            major: num(i, "client_major")?,
            minor: num(i, "client_minor")?,
            build: num(i, "client_build")?,
        },
        updated_at: time(i, "updated_at")?,
    })
}

pub(super) fn user_item(u: &User) -> Result<Item, StoreError> {
    let mut out = item(
        &keys::user(&u.id),
        vec![
            ("id", s(u.id.as_str())),
            ("account_id", s(u.account_id.as_str())),
            ("email", s(u.email.as_str())),
            ("role", s(u.role.as_str())),
            ("device_group", s(u.device_group.as_str())),
            ("password_hash", s(u.password_hash.as_str())),
            (TOTP_FAILURES, n(u.totp_failures)),
            ("created_at", t(u.created_at)?),
            (GSI1_PK, s(keys::account_users(&u.account_id))),
            (GSI1_SK, s(keys::created(u.created_at, u.id.as_str())?)),
        ],
    );
    put_opt(
        &mut out,
        TOTP_LOCKED_UNTIL,
        u.totp_locked_until.map(t).transpose()?,
    );
    if let Some(d) = &u.device {
        out.extend(device_attrs(d)?);
    }
    Ok(out)
}

/// The attributes of a user's device.
pub(super) fn device_attrs(d: &Device) -> Result<Vec<(String, AttributeValue)>, StoreError> {
    Ok(vec![
        (DEVICE_ID.to_owned(), s(d.id.as_str())),
        (DEVICE_SECRET.to_owned(), s(d.sealed_secret.0.as_str())),
        (DEVICE_ENROLLED_AT.to_owned(), t(d.enrolled_at)?),
        (LAST_STEP.to_owned(), n(d.last_step)),
    ])
}

pub(super) fn user(i: &Item) -> Result<User, StoreError> {
    let role = match str(i, "role")? {
        "agent" => Role::Agent,
        "admin" => Role::Admin,
        _ => return Err(corrupt("unknown value in", "role")),
    };
    let device = match opt_str(i, DEVICE_ID)? {
        None => None,
        Some(id) => Some(Device {
            id: DeviceId::from_raw(id),
            sealed_secret: SealedSecret(str(i, DEVICE_SECRET)?.to_owned()),
            enrolled_at: time(i, DEVICE_ENROLLED_AT)?,
            last_step: num(i, LAST_STEP)?,
        }),
    };
    Ok(User {
        id: UserId::from_raw(str(i, "id")?),
        account_id: AccountId::from_raw(str(i, "account_id")?),
        email: Email::from_normalised(str(i, "email")?),
        role,
        device_group: str(i, "device_group")?.to_owned(),
        password_hash: str(i, "password_hash")?.to_owned(),
        device,
        totp_failures: num(i, TOTP_FAILURES)?,
        totp_locked_until: opt_time(i, TOTP_LOCKED_UNTIL)?,
        created_at: time(i, "created_at")?,
    })
}

pub(super) fn email_item(u: &User) -> Item {
    item(&keys::email(&u.email), vec![(USER_ID, s(u.id.as_str()))])
}

pub(super) fn challenge_item(c: &Challenge) -> Result<Item, StoreError> {
    Ok(item(
        &keys::challenge(&c.token_hash),
        vec![
            (USER_ID, s(c.user_id.as_str())),
            ("account_id", s(c.account_id.as_str())),
            (VERSION, n(c.version)),
            (EXPIRES_AT, t(c.expires_at)?),
            (TTL, n(keys::ttl(c.expires_at))),
            (BODY, to_json(c, "challenge")?),
        ],
    ))
}

/// Reads `body`: the whole challenge.
pub(super) fn challenge(i: &Item) -> Result<Challenge, StoreError> {
    from_json(i, BODY)
}

pub(super) fn session_item(x: &Session) -> Result<Item, StoreError> {
    let hash = x.token_hash.as_str();
    let sort = keys::created(x.created_at, hash)?;
    let mut out = item(
        &keys::session(&x.token_hash),
        vec![
            ("token_hash", s(hash)),
            (USER_ID, s(x.user_id.as_str())),
            ("account_id", s(x.account_id.as_str())),
            ("created_at", t(x.created_at)?),
            (EXPIRES_AT, t(x.expires_at)?),
            (TTL, n(keys::ttl(x.expires_at))),
            (GSI1_PK, s(keys::user_sessions(&x.user_id))),
            (GSI1_SK, s(sort.as_str())),
            (GSI2_PK, s(keys::account_sessions(&x.account_id))),
            (GSI2_SK, s(sort)),
        ],
    );
    put_opt(
        &mut out,
        "second_step_at",
        x.second_step_at.map(t).transpose()?,
    );
    Ok(out)
}

pub(super) fn session(i: &Item) -> Result<Session, StoreError> {
    Ok(Session {
        token_hash: TokenHash::from_raw(str(i, "token_hash")?),
        user_id: UserId::from_raw(str(i, USER_ID)?),
        account_id: AccountId::from_raw(str(i, "account_id")?),
        created_at: time(i, "created_at")?,
        expires_at: time(i, EXPIRES_AT)?,
        second_step_at: opt_time(i, "second_step_at")?,
    })
}

pub(super) fn counter_item(key: &str, c: &Counter) -> Result<Item, StoreError> {
    Ok(item(
        &keys::counter(key),
        vec![
            (COUNT, n(c.count)),
            (WINDOW_ENDS_AT, t(c.window_ends_at)?),
            (TTL, n(keys::ttl(c.window_ends_at))),
        ],
    ))
}

pub(super) fn counter(i: &Item) -> Result<Counter, StoreError> {
    Ok(Counter {
        count: num(i, COUNT)?,
        window_ends_at: time(i, WINDOW_ENDS_AT)?,
    })
}

pub(super) fn event_item(e: &AuditEvent) -> Result<Item, StoreError> {
    let key = Key {
        pk: keys::events_pk(&e.account_id),
        sk: keys::event_sk(e.at, e.id.as_str())?,
    };
    let mut out = item(
        &key,
        vec![
            ("id", s(e.id.as_str())),
            ("account_id", s(e.account_id.as_str())),
            ("at", t(e.at)?),
            ("actor", s(e.actor.as_str())),
            ("kind", s(e.kind.as_str())),
            ("outcome", s(e.outcome.as_str())),
            ("detail", to_json(&e.detail, "event detail")?),
        ],
    );
    put_opt(
        &mut out,
        "subject",
        e.subject.as_ref().map(|u| s(u.as_str())),
    );
    Ok(out)
}

pub(super) fn event(i: &Item) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: EventId::from_raw(str(i, "id")?),
        account_id: AccountId::from_raw(str(i, "account_id")?),
        at: time(i, "at")?,
        actor: str(i, "actor")?.to_owned(),
        subject: opt_str(i, "subject")?.map(UserId::from_raw),
        kind: str(i, "kind")?.to_owned(),
        outcome: str(i, "outcome")?.to_owned(),
        detail: from_json(i, "detail")?,
    })
}
