//! `convex-limit URL [KEY]`: one full list_snapshot read, documents discarded; prints
//! `docs=… bytes=… pages=… seconds=…`. The key defaults to `$CONVEX_DEPLOY_KEY`.

use std::process::ExitCode;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: convex-limit URL [DEPLOY_KEY]  (or set CONVEX_DEPLOY_KEY)");
        return ExitCode::from(2);
    };
    let Some(key) = args
        .next()
        .or_else(|| std::env::var("CONVEX_DEPLOY_KEY").ok())
    else {
        eprintln!("convex-limit: no deploy key (argument or CONVEX_DEPLOY_KEY)");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    match spillway_bench::read_all(&url, &key).await {
        Ok(t) => {
            println!(
                "docs={} bytes={} pages={} seconds={:.3}",
                t.docs,
                t.bytes,
                t.pages,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("convex-limit: {e}");
            ExitCode::FAILURE
        }
    }
}
