//! The Asana provider's cache (workspace, section, tag and user gids) kept in the internal
//! store's key/value table, so that every process of the `sync` provider starts warm: a
//! push then costs Asana only its own requests, never a lookup of the project's sections
//! and tags. One typed value ([`KeyedCache`], JSON) under one key; an entry of another
//! server or project is ignored (and replaced on the next save).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::store::SyncStore;
use provider_asana::{CacheKey, CacheStore, KeyedCache, ProjectCache};
use ticket_provider_api::BoxFuture;

/// The key of the cache in the store's key/value table.
pub(crate) const CACHE_KEY: &str = "asana.cache";

/// A [`CacheStore`] in the internal store. Like every cache store it never fails: a read or
/// write the database refuses is warned about once and the provider works without it.
pub(crate) struct StoreCache {
    local: SyncStore,
    warned: AtomicBool,
}

impl std::fmt::Debug for StoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCache")
            .field("key", &CACHE_KEY)
            .finish()
    }
}

impl StoreCache {
    pub(crate) fn new(local: SyncStore) -> Self {
        StoreCache {
            local,
            warned: AtomicBool::new(false),
        }
    }

    fn warn(&self, what: &str, problem: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                problem,
                "cannot {what} the Asana cache in the database; working without it"
            );
        }
    }
}

impl CacheStore for StoreCache {
    fn load<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<ProjectCache>> {
        Box::pin(async move {
            let text = match self.local.kv_get(CACHE_KEY).await {
                Ok(t) => t?,
                Err(e) => {
                    self.warn("read", &e.to_string());
                    return None;
                }
            };
            match serde_json::from_str::<KeyedCache>(&text) {
                Ok(stored) if stored.key == *key => Some(stored.cache),
                // Another server or project: not ours.
                Ok(_) => None,
                Err(e) => {
                    self.warn("read", &e.to_string());
                    None
                }
            }
        })
    }

    fn save<'a>(&'a self, key: &'a CacheKey, cache: &'a ProjectCache) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let stored = KeyedCache {
                key: key.clone(),
                cache: cache.clone(),
            };
            let written = match serde_json::to_string(&stored) {
                Ok(text) => self
                    .local
                    .kv_put(CACHE_KEY, &text)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(problem) = written {
                self.warn("write", &problem);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticket_provider_api::{Config, Status};

    async fn store(dir: &std::path::Path) -> SyncStore {
        let yaml = format!(
            "homechoice:\n  ticket:\n    database_url: \"{}\"\n",
            dir.join("t.db").display()
        );
        let local = provider_internal::InternalProvider::from_config_with(
            &Config::parse(&yaml, "test").unwrap(),
            crate::store_options(None).extensions,
        )
        .await
        .unwrap();
        SyncStore::new(local).unwrap()
    }

    fn key(project: &str) -> CacheKey {
        CacheKey {
            base_url: "http://127.0.0.1:9/api/1.0".into(),
            project_gid: project.into(),
        }
    }

    #[tokio::test]
    async fn one_typed_value_for_one_server_and_project() {
        let dir = tempfile::tempdir().unwrap();
        let local = store(dir.path()).await;
        let cache = StoreCache::new(local.clone());
        assert_eq!(cache.load(&key("1")).await, None);
        let mut c = ProjectCache {
            workspace_gid: Some("5".into()),
            ..Default::default()
        };
        c.status_sections.insert(Status::New, "6".into());
        cache.save(&key("1"), &c).await;
        // A new instance on the same store (a new process) reads it back.
        assert_eq!(
            StoreCache::new(local.clone()).load(&key("1")).await,
            Some(c.clone())
        );
        assert_eq!(cache.load(&key("2")).await, None, "another project");
        // One value, typed: the key and the cache in one JSON object.
        let text = local.kv_get(CACHE_KEY).await.unwrap().unwrap();
        let stored: KeyedCache = serde_json::from_str(&text).unwrap();
        assert_eq!(stored.key, key("1"));
        // Garbage under the key is no error.
        local.kv_put(CACHE_KEY, "not json").await.unwrap();
        assert_eq!(cache.load(&key("1")).await, None);
    }
}
