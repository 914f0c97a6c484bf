//! The e-mails of Asana users, for assignees and comment authors.
//!
//! Asana documents a task's `assignee` and a story's `created_by` as compact users (gid,
//! name) only: the e-mail comes from the users API (`GET /users/{gid}` with
//! `opt_fields=email,name`). [`UserDirectory`] remembers every user read, keyed by gid, for
//! the life of the provider, so each user costs one read per process at most. A
//! [`UserStore`] plugged into it keeps users beyond the process (a database table, a
//! cache file): it is asked before Asana and told about every user read from Asana.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the provider knows of one Asana user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsanaUser {
    /// The user gid.
    pub gid: String,
    /// The e-mail, when Asana shows it to the token.
    pub email: Option<String>,
    /// The display name.
    pub name: Option<String>,
}

impl AsanaUser {
    /// How task reads name this user as an assignee: the e-mail when known, else the gid
    /// (see [`crate::RemoteTask::assignee`]).
    pub fn identity(&self) -> String {
        self.email.clone().unwrap_or_else(|| self.gid.clone())
    }
}

/// Keeps users beyond one process, for a [`UserDirectory`]. Implementations must be cheap
/// and must not fail loudly: a user they cannot give is read from Asana again.
pub trait UserStore: Send + Sync {
    /// The stored user with this gid, if any (asked before Asana).
    fn load(&self, gid: &str) -> Option<AsanaUser>;
    /// Records users just read from Asana.
    fn store(&self, users: &[AsanaUser]);
}

/// Users by gid, in memory, in front of an optional [`UserStore`].
#[derive(Default)]
pub struct UserDirectory {
    known: Mutex<HashMap<String, AsanaUser>>,
    store: Option<Arc<dyn UserStore>>,
}

impl fmt::Debug for UserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserDirectory")
            .field("known", &self.lock().len())
            .field("store", &self.store.is_some())
            .finish()
    }
}

impl UserDirectory {
    /// An empty directory kept in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty directory that asks `store` before Asana and tells it what Asana said.
    pub fn with_store(store: Arc<dyn UserStore>) -> Self {
        UserDirectory {
            known: Mutex::new(HashMap::new()),
            store: Some(store),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, AsanaUser>> {
        // A poisoned map is still a valid cache.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user with this gid, from memory or the store.
    pub fn get(&self, gid: &str) -> Option<AsanaUser> {
        if let Some(u) = self.lock().get(gid) {
            return Some(u.clone());
        }
        let u = self.store.as_ref()?.load(gid)?;
        self.lock().insert(gid.to_string(), u.clone());
        Some(u)
    }

    /// Splits `gids` into the e-mails known (gid → e-mail) and the distinct gids never seen.
    pub(crate) fn split<'a>(
        &self,
        gids: impl IntoIterator<Item = &'a str>,
    ) -> (HashMap<String, String>, Vec<String>) {
        let mut emails = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        for gid in gids {
            if emails.contains_key(gid) || missing.iter().any(|m| m == gid) {
                continue;
            }
            match self.get(gid) {
                Some(u) => {
                    if let Some(e) = u.email {
                        emails.insert(gid.to_string(), e);
                    }
                }
                None => missing.push(gid.to_string()),
            }
        }
        (emails, missing)
    }

    /// Remembers users read from Asana (and hands them to the store).
    pub(crate) fn remember(&self, users: Vec<AsanaUser>) {
        if users.is_empty() {
            return;
        }
        if let Some(store) = &self.store {
            store.store(&users);
        }
        let mut known = self.lock();
        for u in users {
            known.insert(u.gid.clone(), u);
        }
    }

    /// Adds users known from an earlier process (a [`crate::CacheStore`]) without telling
    /// the store; users already known here are kept as they are.
    pub(crate) fn seed(&self, users: Vec<AsanaUser>) {
        let mut known = self.lock();
        for u in users {
            known.entry(u.gid.clone()).or_insert(u);
        }
    }

    /// Every user read from Asana, for a [`crate::CacheStore`] (not the unreadable ones,
    /// which are asked again in the next process).
    pub(crate) fn readable(&self) -> Vec<AsanaUser> {
        self.lock()
            .values()
            .filter(|u| u.email.is_some() || u.name.is_some())
            .cloned()
            .collect()
    }

    /// Remembers that `gid` could not be read (deleted, not visible): it reads as its gid
    /// for the life of the process, without asking again. The store is not told.
    pub(crate) fn remember_unreadable(&self, gid: &str) {
        self.lock().insert(
            gid.to_string(),
            AsanaUser {
                gid: gid.to_string(),
                email: None,
                name: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recording {
        stored: Mutex<Vec<AsanaUser>>,
        loads: Mutex<Vec<String>>,
    }

    impl UserStore for Recording {
        fn load(&self, gid: &str) -> Option<AsanaUser> {
            self.loads.lock().unwrap().push(gid.to_string());
            (gid == "7").then(|| AsanaUser {
                gid: "7".into(),
                email: Some("seven@example.com".into()),
                name: None,
            })
        }
        fn store(&self, users: &[AsanaUser]) {
            self.stored.lock().unwrap().extend_from_slice(users);
        }
    }

    #[test]
    fn memory_then_store_then_missing() {
        let store = Arc::new(Recording::default());
        let dir = UserDirectory::with_store(store.clone());
        dir.remember(vec![AsanaUser {
            gid: "1".into(),
            email: Some("one@example.com".into()),
            name: Some("One".into()),
        }]);
        assert_eq!(store.stored.lock().unwrap().len(), 1, "the store is told");
        let (emails, missing) = dir.split(["1", "7", "9", "9", "1"]);
        assert_eq!(emails.get("1").map(String::as_str), Some("one@example.com"));
        assert_eq!(
            emails.get("7").map(String::as_str),
            Some("seven@example.com")
        );
        assert_eq!(missing, vec!["9".to_string()]);
        // "7" came from the store once and is in memory now.
        let _ = dir.split(["7"]);
        let loads = store.loads.lock().unwrap().clone();
        assert_eq!(loads.iter().filter(|g| *g == "7").count(), 1, "{loads:?}");
        dir.remember_unreadable("9");
        let (emails, missing) = dir.split(["9"]);
        assert!(emails.is_empty() && missing.is_empty());
        let mut readable: Vec<String> = dir.readable().into_iter().map(|u| u.gid).collect();
        readable.sort();
        assert_eq!(readable, ["1", "7"], "the unreadable user is not kept");
    }

    #[test]
    fn seeded_users_do_not_replace_known_ones() {
        let store = Arc::new(Recording::default());
        let dir = UserDirectory::with_store(store.clone());
        dir.remember(vec![AsanaUser {
            gid: "1".into(),
            email: Some("new@example.com".into()),
            name: None,
        }]);
        dir.seed(vec![
            AsanaUser {
                gid: "1".into(),
                email: Some("old@example.com".into()),
                name: None,
            },
            AsanaUser {
                gid: "2".into(),
                email: Some("two@example.com".into()),
                name: None,
            },
        ]);
        let (emails, missing) = dir.split(["1", "2"]);
        assert!(missing.is_empty());
        assert_eq!(emails["1"], "new@example.com");
        assert_eq!(emails["2"], "two@example.com");
        assert_eq!(
            store.stored.lock().unwrap().len(),
            1,
            "seeding tells no store"
        );
    }
}
