//! For other capabilities' tests: accounts arranged directly in the test database.

use super::{passwords, User, Users};
use crate::kernel::secrets::random_uuid;
use crate::kernel::sql::Database;
use crate::kernel::testing::{TestWorld, T0};
use crate::kernel::UserId;

pub const PASSWORD: &str = "correct horse battery";

/// Stores an account with `PASSWORD` (hashed at cost 4) and answers it.
pub fn create_user(world: &TestWorld, email: &str, verified: bool) -> User {
    insert_user(&world.db, &random_uuid(), email, verified)
}

/// Stores an account with this id directly in `db`.
pub fn insert_user(db: &dyn Database, id: &str, email: &str, verified: bool) -> User {
    let user = User {
        id: UserId(id.to_owned()),
        email: email.to_owned(),
        full_name: None,
        password_hash: passwords::hash(PASSWORD, 4).unwrap(),
        email_verified: verified,
        created_at: T0,
        updated_at: T0,
        mfa_enabled: false,
        passkey_count: 0,
        identity_providers: Vec::new(),
    };
    pollster::block_on(Users(db).insert(&user)).unwrap();
    user
}
