//! The files destination on S3-compatible storage: a real moto server (started here as a
//! child process; install it with `scripts/moto.sh`).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use spillway_core::write_mode::{StreamMode, WriteMode};
use spillway_core::{Destination, StreamId};
use spillway_dest_files::{Compression, FilesDestination, Format};

#[tokio::test]
async fn every_format_syncs_to_s3() {
    let moto = Moto::start();
    moto.create_bucket("lake");
    for (i, (format, compression)) in all_formats().into_iter().enumerate() {
        let what = format!("{format:?}/{compression:?}");
        let url = format!("s3://lake/convex/run{i}");
        let c = moto.config(&url, format, compression, StreamMode::default());
        let mut dest = FilesDestination::open(&c).await.unwrap();
        assert_eq!(dest.name(), format!("files:{url}"));
        scenario(&mut dest).await;
        assert_scenario(&dest, &what).await;
        drop(dest);
        let dest = FilesDestination::open(&c).await.unwrap();
        assert_scenario(&dest, &format!("{what}, reopened")).await;
        assert_eq!(dest.current_parts(&users()).len(), 3);
    }
}

#[tokio::test]
async fn s3_replace_crash_finish_orphans_and_compact() {
    let moto = Moto::start();
    moto.create_bucket("lake");
    let c = moto.config(
        "s3://lake/replace",
        Format::Parquet,
        Compression::Zstd,
        StreamMode::new(WriteMode::Replace),
    );
    let s = users();
    let mut dest = FilesDestination::open(&c).await.unwrap();
    scenario(&mut dest).await;
    // A second reload, interrupted before finish.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("z", 50, false)],
        vec![int("n", vec![Some(9)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    drop(dest);

    // A part left by a crashed commit, and a file that is not a part.
    let other = moto.config(
        "s3://lake/replace",
        Format::Ndjson,
        Compression::None,
        StreamMode::new(WriteMode::Replace),
    );
    let mut crashed = FilesDestination::open(&other).await.unwrap();
    crashed
        .write(&batch(
            &StreamId::root("orphans"),
            &[("o", 1, false)],
            vec![],
        ))
        .await
        .unwrap();
    // Commit, then forget it by restoring the manifest: equivalent to a crash right before
    // the manifest write.
    let manifest = crashed.manifest().clone();
    crashed.commit(&key(), &checkpoint(4)).await.unwrap();
    assert_eq!(crashed.current_parts(&StreamId::root("orphans")).len(), 1);
    let orphan = crashed.current_parts(&StreamId::root("orphans"))[0].clone();
    drop(crashed);
    put_manifest(&moto, "lake", "replace", &manifest).await;

    let mut dest = FilesDestination::open(&c).await.unwrap();
    assert!(
        dest.streams() == vec!["users".to_string()],
        "{:?}",
        dest.streams()
    );
    assert!(
        !exists(&moto, "lake", &format!("replace/{orphan}")).await,
        "orphan deleted"
    );
    assert_eq!(
        rows(&dest.read_current(&s).await.unwrap()),
        scenario_expected()
    );
    dest.finish().await.unwrap();
    let got = rows(&dest.read_current(&s).await.unwrap());
    assert_eq!(
        got,
        expected(&[("z", 50, vec![("n", serde_json::json!(9))])])
    );

    // Compact an upsert stream in another prefix.
    let c = moto.config(
        "s3://lake/compact",
        Format::Csv,
        Compression::Gzip,
        StreamMode::default(),
    );
    let mut dest = FilesDestination::open(&c).await.unwrap();
    scenario(&mut dest).await;
    let report = dest.compact(&s).await.unwrap();
    assert_eq!(
        (report.parts_before, report.parts_after, report.rows),
        (3, 1, 3)
    );
    assert_eq!(
        rows(&dest.read_versions(&s).await.unwrap()),
        scenario_expected()
    );
    let part = dest.current_parts(&s)[0].clone();
    assert!(exists(&moto, "lake", &format!("compact/{part}")).await);
}

#[tokio::test]
async fn s3_component_streams_survive_reopen() {
    let moto = Moto::start();
    moto.create_bucket("lake");
    let c = moto.config(
        "s3://lake/components/",
        Format::Ndjson,
        Compression::Gzip,
        StreamMode::default(),
    );
    let a = StreamId::new("waitlist", "entries");
    let b = StreamId::root("waitlist%2Fentries");
    let mut dest = FilesDestination::open(&c).await.unwrap();
    dest.write(&batch(
        &a,
        &[("1", 1, false)],
        vec![int("v", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &b,
        &[("2", 1, false)],
        vec![int("v", vec![Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    let part = dest.current_parts(&a)[0].clone();
    assert!(part.starts_with("waitlist%2Fentries/"), "{part}");
    drop(dest);
    // Reopening lists the root and deletes unlisted parts: the listed ones must stay.
    let dest = FilesDestination::open(&c).await.unwrap();
    assert!(exists(&moto, "lake", &format!("components/{part}")).await);
    let got = rows(&dest.read_current(&a).await.unwrap());
    assert_eq!(got["1"]["v"], serde_json::json!(1));
    let got = rows(&dest.read_current(&b).await.unwrap());
    assert_eq!(got["2"]["v"], serde_json::json!(2));
}

#[tokio::test]
async fn a_missing_bucket_is_named_in_the_error() {
    let moto = Moto::start();
    let c = moto.config(
        "s3://no-such-bucket/x",
        Format::Parquet,
        Compression::Zstd,
        StreamMode::default(),
    );
    let e = FilesDestination::open(&c).await.err().unwrap();
    assert!(e.message.contains("s3://no-such-bucket/x"), "{}", e.message);
    assert!(!e.message.contains("testing-secret"), "{}", e.message);
    assert_eq!(e.kind, spillway_core::ErrorKind::Config, "{}", e.message);
    assert!(e.message.contains("bucket in `path`"), "{}", e.message);
}

/// An S3 client on moto for checks behind the destination's back.
fn s3(moto: &Moto, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(&moto.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing-secret")
        .build()
        .unwrap()
}

async fn exists(moto: &Moto, bucket: &str, key: &str) -> bool {
    use object_store::ObjectStoreExt;
    s3(moto, bucket)
        .head(&object_store::path::Path::parse(key).unwrap())
        .await
        .is_ok()
}

async fn put_manifest(
    moto: &Moto,
    bucket: &str,
    prefix: &str,
    m: &spillway_dest_files::manifest::Manifest,
) {
    use object_store::ObjectStoreExt;
    let path =
        object_store::path::Path::parse(format!("{prefix}/_spillway_manifest.json")).unwrap();
    s3(moto, bucket)
        .put(&path, serde_json::to_vec(m).unwrap().into())
        .await
        .unwrap();
}
