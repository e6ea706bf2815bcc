//! Turning a [`Fault`] (and, where needed, the real response) into what the client receives.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::Fault;
use crate::errors::ApiError;

/// A cloud proxy's 502 page.
const BAD_GATEWAY_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
     <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n\
     </html>\r\n";

/// A cloud proxy's 504 page.
const GATEWAY_TIMEOUT_PAGE: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n\
     <body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>cloudflare</center>\r\n\
     </body>\r\n</html>\r\n";

/// A maintenance page served with 200.
const MAINTENANCE_PAGE: &str =
    "<html><head><title>Maintenance</title></head><body>Down for maintenance</body></html>";

/// How long the reset body waits after the first half, so it reaches the client before the
/// connection is dropped.
const RESET_PAUSE: Duration = Duration::from_millis(50);

/// The response for `fault` ([`Fault::Hang`] is handled by the caller; here it answers like a
/// server timeout). `real` produces the real response, for the faults that need it.
pub(crate) async fn respond(fault: &Fault, real: impl Future<Output = Response>) -> Response {
    match fault {
        Fault::Error {
            status,
            code,
            message,
        } => error(*status, code, message),
        Fault::RateLimited { retry_after_secs } => {
            let mut response = error(
                429,
                "RateLimited",
                &format!("Too many requests. Retry after {retry_after_secs} seconds."),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            response
        }
        Fault::BadGateway => html(StatusCode::BAD_GATEWAY, BAD_GATEWAY_PAGE),
        Fault::GatewayTimeout => html(StatusCode::GATEWAY_TIMEOUT, GATEWAY_TIMEOUT_PAGE),
        Fault::RequestTimeout | Fault::Hang => StatusCode::REQUEST_TIMEOUT.into_response(),
        Fault::NonJsonBody => html(StatusCode::OK, MAINTENANCE_PAGE),
        Fault::Slow { ms } => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            real.await
        }
        Fault::TruncatedBody => {
            let (mut parts, body) = match split(real.await).await {
                Ok(split) => split,
                Err(response) => return response,
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            let half = body.slice(..body.len() / 2);
            Response::from_parts(parts, Body::from(half))
        }
        Fault::ResetMidBody => {
            let (mut parts, body) = match split(real.await).await {
                Ok(split) => split,
                Err(response) => return response,
            };
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            let half = body.slice(..body.len() / 2);
            Response::from_parts(parts, Body::new(ResetBody::new(half)))
        }
    }
}

/// A `{"code","message"}` envelope with any status (500 if `status` is not a valid one).
fn error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let envelope = spillway_convex_protocol::wire::ErrorEnvelope {
        code: code.to_string(),
        message: message.to_string(),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&envelope).unwrap_or_default(),
    )
        .into_response()
}

fn html(status: StatusCode, page: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// The real response's head and its whole body (a 500 if the body cannot be read).
async fn split(response: Response) -> Result<(axum::http::response::Parts, Bytes), Response> {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(e) => Err(ApiError::internal(e).into_response()),
    }
}

/// A body of unknown length that yields `first`, pauses, then fails: hyper then drops the
/// connection short of the announced `Content-Length`.
struct ResetBody {
    first: Option<Bytes>,
    pause: Pin<Box<Sleep>>,
}

impl ResetBody {
    fn new(first: Bytes) -> Self {
        ResetBody {
            first: Some(first),
            pause: Box::pin(tokio::time::sleep(RESET_PAUSE)),
        }
    }
}

impl http_body::Body for ResetBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault injection: connection reset mid-body",
            )))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
