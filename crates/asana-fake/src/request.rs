//! The request and response types shared by the API handlers (`api`), the
//! spec check (`strict`) and the HTTP layer (`server`): a request relative to
//! `/api/1.0`, its body as received, the answer, and Asana's error shape.

use serde_json::{json, Value};

/// Help text attached to every error, as Asana does.
const HELP: &str = "For more information on API status codes and how to handle them, \
read the docs on errors: https://developers.asana.com/docs/errors";

/// The body of an API request as received.
pub(crate) enum Body {
    /// No body at all.
    None,
    /// A body that is not valid JSON (with the parser's complaint).
    Invalid(String),
    /// A parsed JSON body.
    Json(Value),
}

/// One API request, relative to `/api/1.0`.
pub(crate) struct ApiRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path below `/api/1.0`, starting with `/`, without query string.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The request body.
    pub body: Body,
}

/// One API response.
pub(crate) struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

impl ApiResponse {
    pub(crate) fn ok(body: Value) -> ApiResponse {
        ApiResponse {
            status: 200,
            body,
            location: None,
        }
    }

    pub(crate) fn data(data: Value) -> ApiResponse {
        ApiResponse::ok(json!({ "data": data }))
    }

    pub(crate) fn created(data: Value, location: String) -> ApiResponse {
        ApiResponse {
            status: 201,
            body: json!({ "data": data }),
            location: Some(location),
        }
    }
}

/// An Asana-style error.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            message: message.into(),
        }
    }

    /// 403: the request is understood and refused.
    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 403,
            message: message.into(),
        }
    }

    /// 402: the workspace's plan lacks a premium feature.
    pub(crate) fn payment_required(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 402,
            message: message.into(),
        }
    }
}

/// The `{"errors": [...]}` body Asana sends with `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    if status == 401 || status == 412 {
        // Asana's 401 and 412 bodies carry the message only.
        return json!({ "errors": [{ "message": message }] });
    }
    let mut err = json!({ "message": message, "help": HELP });
    if status >= 500 {
        err["phrase"] = json!("6 sad squid snuggle softly");
    }
    json!({ "errors": [err] })
}

impl From<ApiError> for ApiResponse {
    fn from(e: ApiError) -> ApiResponse {
        ApiResponse {
            status: e.status,
            body: error_body(e.status, &e.message),
            location: None,
        }
    }
}

/// The outcome of one API handler: an answer, or an Asana-style error.
pub(crate) type Res = Result<ApiResponse, ApiError>;

/// The JSON type of a value, as error messages name it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
