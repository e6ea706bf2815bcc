//! [`Store`]: the destination root on a local directory or S3, through `object_store`, with
//! durable writes (local files are fsynced; the manifest is replaced atomically).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use spillway_core::{DestError, ErrorKind};

use crate::config::FilesConfig;
use crate::layout::MANIFEST;

/// The destination root.
pub(crate) struct Store {
    inner: Arc<dyn ObjectStore>,
    /// The root inside `inner` (the S3 prefix; empty for a local directory).
    prefix: Path,
    /// The local directory, when local.
    local_root: Option<PathBuf>,
    /// `/abs/dir` or `s3://bucket/prefix`, for names and messages.
    pub display: String,
}

/// Maps an `object_store` error to a destination error saying what was being done.
pub(crate) fn store_error(what: impl std::fmt::Display, e: object_store::Error) -> DestError {
    let kind = match &e {
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => ErrorKind::Auth,
        object_store::Error::NotFound { .. }
        | object_store::Error::InvalidPath { .. }
        | object_store::Error::NotSupported { .. }
        | object_store::Error::NotImplemented { .. } => ErrorKind::Config,
        _ => ErrorKind::Transient,
    };
    // S3 errors other than a missing object arrive as `Generic`; tell the permanent ones apart
    // by their status, so a missing bucket or a refused key is not retried forever.
    let text = e.to_string();
    let (kind, hint) = match kind {
        ErrorKind::Transient if text.contains("NoSuchBucket") || text.contains("404 Not Found") => {
            (ErrorKind::Config, "; does the bucket in `path` exist?")
        }
        ErrorKind::Transient
            if text.contains("403 Forbidden")
                || text.contains("InvalidAccessKeyId")
                || text.contains("SignatureDoesNotMatch") =>
        {
            (
                ErrorKind::Auth,
                "; check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and their \
                 rights on the bucket",
            )
        }
        k => (k, ""),
    };
    DestError::new(kind, format!("{what}: {text}{hint}"))
}

fn io_error(what: impl std::fmt::Display, e: std::io::Error) -> DestError {
    DestError::new(ErrorKind::Transient, format!("{what}: {e}"))
}

impl Store {
    /// Opens the root `config.path` names (creating a local directory if needed).
    pub(crate) fn open(config: &FilesConfig) -> Result<Self, DestError> {
        let path = config.path.trim();
        if let Some(rest) = path.strip_prefix("s3://") {
            return Self::open_s3(config, rest);
        }
        let dir = PathBuf::from(path.strip_prefix("file://").unwrap_or(path));
        std::fs::create_dir_all(&dir).map_err(|e| {
            DestError::new(
                ErrorKind::Config,
                format!("files destination: cannot create the directory path = {path:?}: {e}"),
            )
        })?;
        let dir = dir.canonicalize().map_err(|e| {
            DestError::new(
                ErrorKind::Config,
                format!("files destination: cannot open the directory path = {path:?}: {e}"),
            )
        })?;
        let local = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| store_error(format!("opening the directory {}", dir.display()), e))?;
        Ok(Store {
            inner: Arc::new(local),
            prefix: Path::default(),
            display: dir.display().to_string(),
            local_root: Some(dir),
        })
    }

    fn open_s3(config: &FilesConfig, rest: &str) -> Result<Self, DestError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(DestError::new(
                ErrorKind::Config,
                format!(
                    "files destination: path = {:?} names no bucket; use s3://bucket/prefix",
                    config.path
                ),
            ));
        }
        let prefix_path = Path::parse(prefix.trim_matches('/')).map_err(|e| {
            DestError::new(
                ErrorKind::Config,
                format!(
                    "files destination: path = {:?} has an invalid prefix: {e}",
                    config.path
                ),
            )
        })?;
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &config.region {
            b = b.with_region(r);
        }
        if let Some(k) = &config.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &config.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        if let Some(t) = &config.session_token {
            b = b.with_token(t);
        }
        let http_endpoint = b
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some_and(|e| e.starts_with("http://"));
        if let Some(allow) = config.allow_http {
            b = b.with_allow_http(allow);
        } else if http_endpoint {
            b = b.with_allow_http(true);
        }
        let s3 = b.build().map_err(|e| {
            DestError::new(
                ErrorKind::Config,
                format!(
                    "files destination: cannot set up S3 for path = {:?}: {e} (check `endpoint`, \
                     `region` and the AWS_* environment variables)",
                    config.path
                ),
            )
        })?;
        let display = if prefix_path.as_ref().is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix_path}")
        };
        Ok(Store {
            inner: Arc::new(s3),
            prefix: prefix_path,
            local_root: None,
            display,
        })
    }

    /// The location of `rel` (`dir/file` or a root file name) under the root.
    fn location(&self, rel: &str) -> Result<Path, DestError> {
        let full = if self.prefix.as_ref().is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        Path::parse(&full).map_err(|e| {
            DestError::new(
                ErrorKind::Internal,
                format!("invalid object path {full:?} under {}: {e}", self.display),
            )
        })
    }

    /// Where `rel` is, for messages.
    pub(crate) fn describe(&self, rel: &str) -> String {
        format!("{}/{rel}", self.display)
    }

    /// Writes `rel` durably (a local file is fsynced with its directory).
    pub(crate) async fn put(&self, rel: &str, data: Bytes) -> Result<(), DestError> {
        let location = self.location(rel)?;
        self.inner
            .put(&location, PutPayload::from_bytes(data))
            .await
            .map_err(|e| store_error(format!("writing {}", self.describe(rel)), e))?;
        if let Some(root) = &self.local_root {
            let file = root.join(rel);
            let what = self.describe(rel);
            tokio::task::spawn_blocking(move || -> Result<(), DestError> {
                std::fs::File::open(&file)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| io_error(format!("syncing {what}"), e))?;
                if let Some(dir) = file.parent() {
                    sync_dir(dir)
                        .map_err(|e| io_error(format!("syncing the directory of {what}"), e))?;
                }
                Ok(())
            })
            .await
            .map_err(|e| DestError::new(ErrorKind::Internal, format!("sync task failed: {e}")))??;
        }
        Ok(())
    }

    /// Replaces the manifest atomically: a local manifest is written to a temporary file,
    /// fsynced and renamed over the old one (then the directory is fsynced); on S3 a single
    /// PUT replaces the object atomically.
    pub(crate) async fn put_manifest(&self, data: Bytes) -> Result<(), DestError> {
        let Some(root) = &self.local_root else {
            return self.put(MANIFEST, data).await;
        };
        let root = root.clone();
        let what = self.describe(MANIFEST);
        tokio::task::spawn_blocking(move || -> Result<(), DestError> {
            use std::io::Write;
            let tmp = root.join(format!("{MANIFEST}.tmp"));
            let mut f = std::fs::File::create(&tmp)
                .map_err(|e| io_error(format!("writing {}", tmp.display()), e))?;
            f.write_all(&data)
                .and_then(|()| f.sync_all())
                .map_err(|e| io_error(format!("writing {}", tmp.display()), e))?;
            drop(f);
            std::fs::rename(&tmp, root.join(MANIFEST))
                .map_err(|e| io_error(format!("replacing {what}"), e))?;
            sync_dir(&root).map_err(|e| io_error(format!("syncing the directory of {what}"), e))
        })
        .await
        .map_err(|e| DestError::new(ErrorKind::Internal, format!("manifest task failed: {e}")))?
    }

    /// Reads `rel`, or `None` if it does not exist.
    pub(crate) async fn get(&self, rel: &str) -> Result<Option<Bytes>, DestError> {
        let location = self.location(rel)?;
        match self.inner.get(&location).await {
            Ok(r) => r
                .bytes()
                .await
                .map(Some)
                .map_err(|e| store_error(format!("reading {}", self.describe(rel)), e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(format!("reading {}", self.describe(rel)), e)),
        }
    }

    /// Deletes `rel`; a missing object is not an error.
    pub(crate) async fn delete(&self, rel: &str) -> Result<(), DestError> {
        let location = self.location(rel)?;
        match self.inner.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(format!("deleting {}", self.describe(rel)), e)),
        }
    }

    /// Lists the root's first level only (one cheap request, for probes).
    pub(crate) async fn list_top(&self) -> Result<(), DestError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        self.inner
            .list_with_delimiter(prefix)
            .await
            .map(|_| ())
            .map_err(|e| store_error(format!("listing {}", self.display), e))
    }

    /// Every object under the root, as paths relative to it (`dir/file`, `file`).
    pub(crate) async fn list(&self) -> Result<Vec<String>, DestError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let metas: Vec<_> = self
            .inner
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| store_error(format!("listing {}", self.display), e))?;
        let mut out = Vec::with_capacity(metas.len());
        for m in metas {
            if let Some(parts) = m.location.prefix_match(&self.prefix) {
                let rel: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
                out.push(rel.join("/"));
            }
        }
        Ok(out)
    }
}

/// fsyncs a directory (so a rename or a new entry in it survives a power loss).
fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
