//! What the provider learns about its project and keeps between processes.
//!
//! Every `ticket` command is a new process. Without a memory of the project's workspace,
//! section gids, tag gids and users, each would pay 3 or more requests before its real
//! one, a quarter of what a free Asana plan allows. [`ProjectCache`] is that memory as one
//! typed value; a [`CacheStore`] keeps it: [`CacheFile`] in a small JSON file (the `asana`
//! provider), or the `sync` provider's database.
//!
//! A cache is only ever a shortcut: a store that cannot read or write says so once (a
//! warning) and the provider works without it; a gid Asana no longer knows is dropped when
//! Asana refuses it and the operation is retried once (see `provider.rs`). The token is in
//! none of these types.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use ticket_provider_api::{BoxFuture, Priority, Status};

use crate::users::AsanaUser;

/// Which Asana server and project a [`ProjectCache`] describes. Two projects or two servers
/// never share an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The API's base URL, without a trailing slash.
    pub base_url: String,
    /// The tickets project.
    pub project_gid: String,
}

/// A user as cached: what the users API said (the gid is the map key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedUser {
    /// The e-mail, when Asana shows it to the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What the provider knows of its project: gids only, never the token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCache {
    /// The project's workspace (where priority tags are created).
    #[serde(default)]
    pub workspace_gid: Option<String>,
    /// Sections of the project as last seen: gid → name.
    #[serde(default)]
    pub sections: BTreeMap<String, String>,
    /// The section of each status.
    #[serde(default)]
    pub status_sections: BTreeMap<Status, String>,
    /// The tag of each priority.
    #[serde(default)]
    pub priority_tags: BTreeMap<Priority, String>,
    /// Users read from the users API: gid → e-mail and name.
    #[serde(default)]
    pub users: BTreeMap<String, CachedUser>,
    /// The priority custom field (`asana_priority_field`) and its options, once looked up.
    /// Absent in tag mode and in caches written before custom fields were supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_field: Option<CachedPriorityField>,
    /// The custom field of each field `asana_fields` maps, by field name, once bound.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, CachedField>,
    /// The tag of each label seen or created: label → tag gid.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label_tags: BTreeMap<String, String>,
}

/// The Asana custom field a ticket field is mapped to (`asana_fields`), as last bound on the
/// project: kept by gid, so a field or option renamed in Asana keeps working.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedField {
    /// `asana_fields.<field>` as configured when it was bound: a process configured with
    /// another name or gid ignores this entry and binds again.
    pub configured: String,
    /// The custom field's gid.
    pub gid: String,
    /// Its name as last seen.
    #[serde(default)]
    pub name: String,
    /// Its `resource_subtype` (`text`, `number`, `enum`, `multi_enum`, `date`, `people`).
    #[serde(default)]
    pub subtype: String,
    /// The gid of each declared option found enabled (enum and multi-enum fields).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl CachedField {
    /// The declared option whose gid is `gid`.
    pub fn option_named(&self, gid: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(_, g)| g.as_str() == gid)
            .map(|(n, _)| n.as_str())
    }
}

/// The enum custom field that holds priority, as last looked up on the project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedPriorityField {
    /// `asana_priority_field` as configured when it was looked up: a process configured
    /// with another field ignores this entry and looks again.
    pub configured: String,
    /// The field's gid.
    pub gid: String,
    /// The field's name as last seen.
    #[serde(default)]
    pub name: String,
    /// The enabled option found for each priority (a priority whose option is missing or
    /// disabled has none).
    #[serde(default)]
    pub options: BTreeMap<Priority, CachedOption>,
}

/// One enum option of the priority field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedOption {
    /// The option's gid.
    pub gid: String,
    /// The option name it was found by (`asana_priority_options`): a process configured
    /// with another name ignores it and looks again.
    pub name: String,
}

impl ProjectCache {
    /// The users, as the provider's [`crate::UserDirectory`] holds them.
    pub fn asana_users(&self) -> Vec<AsanaUser> {
        self.users
            .iter()
            .map(|(gid, u)| AsanaUser {
                gid: gid.clone(),
                email: u.email.clone(),
                name: u.name.clone(),
            })
            .collect()
    }
}

/// One project's cache with the key it belongs to: the unit a [`CacheStore`] may keep as
/// one value (the `sync` provider stores exactly this in its database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedCache {
    /// Server and project.
    #[serde(flatten)]
    pub key: CacheKey,
    /// What is known of them.
    pub cache: ProjectCache,
}

/// Keeps a [`ProjectCache`] between processes. Neither method fails: a store that cannot
/// read answers `None`, one that cannot write drops the value; either warns (once) itself.
pub trait CacheStore: Send + Sync + fmt::Debug {
    /// The cache saved for `key`, if any.
    fn load<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<ProjectCache>>;
    /// Saves the cache of `key`, replacing what was saved for it.
    fn save<'a>(&'a self, key: &'a CacheKey, cache: &'a ProjectCache) -> BoxFuture<'a, ()>;
}

/// The name of the cache file beside the config file when `asana_cache_path` is not set.
pub const DEFAULT_CACHE_FILE: &str = ".asana-cache.json";

/// The file's layout: one entry per server and project.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FileContents {
    /// Layout version, for a future change of it.
    version: u32,
    #[serde(default)]
    projects: Vec<KeyedCache>,
}

const FILE_VERSION: u32 = 1;

/// The largest cache file read: far beyond any real cache (a user is ~100 bytes).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// What lies at the cache path, as far as the cache is concerned.
#[derive(Debug)]
enum OnDisk {
    /// Nothing: the first save creates the file.
    Missing,
    /// A cache in this build's layout.
    Cache(FileContents),
    /// A cache of ours by its marker (a `version` number and a `projects` list) that this
    /// build cannot read (another layout, a damaged entry): a save replaces it.
    Unreadable(String),
    /// Anything else (some other file, a symlink, a folder, a device, a file too large):
    /// never read further, never replaced.
    Foreign(String),
    /// The path cannot be examined or read (permissions, I/O): never replaced.
    Failed(String),
}

/// Why a save wrote nothing.
enum SaveError {
    /// The path holds something that is not our cache.
    Foreign(String),
    /// The file system refused.
    Io(String),
}

/// A [`CacheStore`] in a JSON file (`asana_cache_path`). Several projects or servers may
/// share the file: each has its own entry. Writes go to a new temporary file with a random
/// name in the same folder (created exclusively, never through a symlink), renamed over
/// the old one, so a reader never sees half a file. A missing file is an empty cache; an
/// unreadable or unwritable one is warned about once per process and otherwise ignored.
///
/// Only a cache is ever replaced: a path that holds anything else (a regular file that is
/// not an Asana cache, a symlink, a folder, a device) is left as it is, with one warning
/// naming the path, and the provider works without a cache.
pub struct CacheFile {
    path: PathBuf,
    warned_read: AtomicBool,
    warned_write: AtomicBool,
    warned_foreign: AtomicBool,
}

impl fmt::Debug for CacheFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheFile")
            .field("path", &self.path)
            .finish()
    }
}

impl CacheFile {
    /// A store in the file at `path` (created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CacheFile {
            path: path.into(),
            warned_read: AtomicBool::new(false),
            warned_write: AtomicBool::new(false),
            warned_foreign: AtomicBool::new(false),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn warn_read(&self, problem: &str) {
        if !self.warned_read.swap(true, Ordering::Relaxed) {
            tracing::warn!(path = %self.path.display(), problem, "cannot read the Asana cache file; working without it (it is rewritten on the next change)");
        }
    }

    fn warn_write(&self, problem: &str) {
        if !self.warned_write.swap(true, Ordering::Relaxed) {
            tracing::warn!(path = %self.path.display(), problem, "cannot write the Asana cache file; working without it (set homechoice.ticket.asana_cache_path to a writable place)");
        }
    }

    /// One warning per process for a path that holds something else, whether a load or
    /// a save meets it first.
    fn warn_foreign(&self, problem: &str) {
        if !self.warned_foreign.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                problem,
                "{} is not an Asana cache file; leaving it as it is and working without a cache (point homechoice.ticket.asana_cache_path elsewhere, or remove the file)",
                self.path.display()
            );
        }
    }

    /// What is at `path`. Reads a regular file only (not through a symlink, never blocking
    /// on a FIFO), at most [`MAX_FILE_BYTES`].
    fn inspect(path: &Path) -> OnDisk {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return OnDisk::Missing,
            Err(e) => return OnDisk::Failed(e.to_string()),
        };
        if !meta.file_type().is_file() {
            return OnDisk::Foreign("not a regular file (a symlink, folder or device)".into());
        }
        if meta.len() > MAX_FILE_BYTES {
            return OnDisk::Foreign(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let mut bytes = Vec::new();
        let read = options
            .open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
        if let Err(e) = read {
            return OnDisk::Failed(e.to_string());
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return OnDisk::Foreign(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return OnDisk::Foreign(format!("not JSON: {e}")),
        };
        let marked = value.get("version").is_some_and(|v| v.is_u64())
            && value.get("projects").is_some_and(|p| p.is_array());
        if !marked {
            return OnDisk::Foreign("no \"version\" number and \"projects\" list".into());
        }
        match serde_json::from_value::<FileContents>(value) {
            Ok(c) if c.version == FILE_VERSION => OnDisk::Cache(c),
            Ok(c) => OnDisk::Unreadable(format!("unknown layout version {}", c.version)),
            Err(e) => OnDisk::Unreadable(e.to_string()),
        }
    }

    fn load_blocking(&self, key: &CacheKey) -> Option<ProjectCache> {
        match Self::inspect(&self.path) {
            OnDisk::Missing => None,
            OnDisk::Cache(contents) => contents
                .projects
                .into_iter()
                .find(|e| e.key == *key)
                .map(|e| e.cache),
            OnDisk::Unreadable(problem) | OnDisk::Failed(problem) => {
                self.warn_read(&problem);
                None
            }
            OnDisk::Foreign(problem) => {
                self.warn_foreign(&problem);
                None
            }
        }
    }

    fn save_blocking(&self, key: &CacheKey, cache: &ProjectCache) -> Result<(), SaveError> {
        // Other projects' entries are kept; a cache of ours this build cannot read is
        // replaced; anything else is left alone.
        let mut contents = match Self::inspect(&self.path) {
            OnDisk::Missing | OnDisk::Unreadable(_) => FileContents::default(),
            OnDisk::Cache(c) => c,
            OnDisk::Foreign(problem) => return Err(SaveError::Foreign(problem)),
            OnDisk::Failed(problem) => return Err(SaveError::Io(problem)),
        };
        contents.version = FILE_VERSION;
        contents.projects.retain(|e| e.key != *key);
        contents.projects.push(KeyedCache {
            key: key.clone(),
            cache: cache.clone(),
        });
        let text =
            serde_json::to_vec_pretty(&contents).map_err(|e| SaveError::Io(e.to_string()))?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| DEFAULT_CACHE_FILE.to_string());
        let (tmp, mut file) = create_temp(&dir, &name).map_err(|e| SaveError::Io(e.to_string()))?;
        // The rename replaces the directory entry at the path (a symlink planted there
        // since the check is replaced, never written through).
        let written = (|| {
            file.write_all(&text)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(SaveError::Io(e.to_string()));
        }
        Ok(())
    }
}

/// A new temporary file `.<name>.<random>.tmp` in `dir`: created exclusively (`O_EXCL`,
/// so an existing file or symlink of that name fails instead of being written through),
/// not following a symlink, readable by its owner only. A name that is taken is drawn
/// again.
fn create_temp(dir: &Path, name: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", random_u64()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        match options.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary file name")))
}

/// A number no other process can predict: std's per-process random hash keys over the
/// process id, the time and a counter.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(DRAWS.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

impl CacheStore for CacheFile {
    fn load<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<ProjectCache>> {
        // A small file: read in place rather than on a blocking thread, which would need
        // 'static copies for no measurable gain.
        Box::pin(async move { self.load_blocking(key) })
    }

    fn save<'a>(&'a self, key: &'a CacheKey, cache: &'a ProjectCache) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match self.save_blocking(key, cache) {
                Ok(()) => {}
                Err(SaveError::Foreign(problem)) => self.warn_foreign(&problem),
                Err(SaveError::Io(problem)) => self.warn_write(&problem),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project: &str) -> CacheKey {
        CacheKey {
            base_url: "http://127.0.0.1:1/api/1.0".into(),
            project_gid: project.into(),
        }
    }

    fn sample() -> ProjectCache {
        let mut c = ProjectCache {
            workspace_gid: Some("9".into()),
            ..Default::default()
        };
        c.sections.insert("11".into(), "In Progress".into());
        c.status_sections.insert(Status::InProgress, "11".into());
        c.priority_tags.insert(Priority::High, "21".into());
        c.users.insert(
            "31".into(),
            CachedUser {
                email: Some("a@example.com".into()),
                name: Some("A".into()),
            },
        );
        c
    }

    /// A new folder per call: tests run in parallel, and the clock alone can repeat.
    fn dir() -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "asana-cache-test-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test]
    async fn entries_are_kept_per_server_and_project() {
        let d = dir();
        let file = CacheFile::new(d.join("c.json"));
        assert_eq!(file.load(&key("1")).await, None, "no file: empty");
        file.save(&key("1"), &sample()).await;
        let other = ProjectCache {
            workspace_gid: Some("8".into()),
            ..Default::default()
        };
        file.save(&key("2"), &other).await;
        assert_eq!(file.load(&key("1")).await, Some(sample()));
        assert_eq!(file.load(&key("2")).await, Some(other));
        let elsewhere = CacheKey {
            base_url: "http://127.0.0.1:2/api/1.0".into(),
            project_gid: "1".into(),
        };
        assert_eq!(file.load(&elsewhere).await, None, "another server");
        // Saving again replaces the entry, and leaves no temporary file behind.
        file.save(&key("1"), &ProjectCache::default()).await;
        assert_eq!(file.load(&key("1")).await, Some(ProjectCache::default()));
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["c.json"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test]
    async fn a_corrupt_or_unwritable_file_is_no_error() {
        let d = dir();
        let path = d.join("c.json");
        // Ours (a version and a list of projects), unreadable by this build: replaced.
        for ours in [
            "{\"version\": 99, \"projects\": []}",
            "{\"version\": 1, \"projects\": [{\"base_url\": 7}]}",
        ] {
            std::fs::write(&path, ours).unwrap();
            let file = CacheFile::new(&path);
            assert_eq!(file.load(&key("1")).await, None, "{ours:?}");
            file.save(&key("1"), &sample()).await;
            assert_eq!(file.load(&key("1")).await, Some(sample()), "{ours:?}");
        }
        // Anything else is no cache of ours: never replaced (issue 23 #6).
        for foreign in [
            "",
            "{",
            "[1,2]",
            "{\"version\": 1}",
            "root:x:0:0::/root:/bin/sh\n",
        ] {
            std::fs::write(&path, foreign).unwrap();
            let file = CacheFile::new(&path);
            assert_eq!(file.load(&key("1")).await, None, "{foreign:?}");
            file.save(&key("1"), &sample()).await;
            assert_eq!(std::fs::read_to_string(&path).unwrap(), foreign);
            assert_eq!(file.load(&key("1")).await, None, "{foreign:?}");
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        CacheFile::new(&path).save(&key("1"), &sample()).await;
        assert!(path.is_dir(), "a folder stays a folder");
        // A folder that does not exist cannot be written: nothing happens.
        let file = CacheFile::new(d.join("missing").join("c.json"));
        file.save(&key("1"), &sample()).await;
        assert_eq!(file.load(&key("1")).await, None);
        let _ = std::fs::remove_dir_all(d);
    }

    /// Issue 23 #6: a symlink planted where the temporary file used to be predictable
    /// (`.<name>.<pid>.<n>.tmp`), or at the cache path itself, never redirects the write:
    /// its target is left byte for byte.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_planted_symlink_never_redirects_the_write() {
        let d = dir();
        let victim = d.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = d.join("c.json");
        for n in 0..256 {
            let old_tmp = d.join(format!(".c.json.{}.{n}.tmp", std::process::id()));
            std::os::unix::fs::symlink(&victim, old_tmp).unwrap();
        }
        let file = CacheFile::new(&path);
        for i in 0..4 {
            file.save(&key(&i.to_string()), &sample()).await;
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(
            file.load(&key("3")).await,
            Some(sample()),
            "written in place"
        );
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_file());

        // A symlink at the cache path: neither followed nor replaced.
        let linked = d.join("linked.json");
        std::os::unix::fs::symlink(&victim, &linked).unwrap();
        let file = CacheFile::new(&linked);
        assert_eq!(file.load(&key("1")).await, None);
        file.save(&key("1"), &sample()).await;
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(std::fs::symlink_metadata(&linked)
            .unwrap()
            .file_type()
            .is_symlink());
        // The temporary files are the owner's only.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn the_priority_field_is_an_optional_addition() {
        // A cache written before custom fields: no `priority_field` key.
        let old = serde_json::to_string(&sample()).unwrap();
        assert!(!old.contains("priority_field"), "{old}");
        let back: ProjectCache = serde_json::from_str(&old).unwrap();
        assert_eq!(back.priority_field, None);
        let mut with = sample();
        with.priority_field = Some(CachedPriorityField {
            configured: "Priority".into(),
            gid: "41".into(),
            name: "Priority".into(),
            options: BTreeMap::from([(
                Priority::Normal,
                CachedOption {
                    gid: "42".into(),
                    name: "Medium".into(),
                },
            )]),
        });
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains("\"normal\":{\"gid\":\"42\""), "{text}");
        assert_eq!(serde_json::from_str::<ProjectCache>(&text).unwrap(), with);
    }

    #[test]
    fn statuses_and_priorities_are_map_keys_by_name() {
        let text = serde_json::to_string(&sample()).unwrap();
        assert!(text.contains("\"IN_PROGRESS\":\"11\""), "{text}");
        assert!(text.contains("\"high\":\"21\""), "{text}");
        let back: ProjectCache = serde_json::from_str(&text).unwrap();
        assert_eq!(back, sample());
    }
}
