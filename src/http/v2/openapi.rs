//! The OpenAPI 3.1 descriptions served at `/api/v2/openapi.json` and `/api/v3/openapi.json`.
//!
//! The component schemas are derived (utoipa) from the very types the handlers serialize
//! (`super::model`), so a field added, renamed or retyped there changes the description too.
//! The operations come from [`super::operations::OPERATIONS`], the route table both versions
//! are described from.

use utoipa::openapi::path::{OperationBuilder, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, Ref, RefOr,
};

use super::model::{
    ConcealDetails, ConcealRecord, ErrorBody, LocalesBody, ReceiptBase, ReceiptDetails,
    ReceiptListDetails, ReceiptRecord, ReceiptState, SecretDetails, SecretRecord, SecretState,
    StatusBody, StatusDetails, UnknownRecord, VersionBody,
};
use super::operations::Auth::{Guest, Optional, Required};
use super::operations::{operations, Body};
use super::Version;

fn reference(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

fn boolean() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Boolean).into()
}

/// `{success?, record, details?}` or the list form, as `version` sends it.
fn envelope(version: Version, body: Body) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new();
    if version == Version::V2 {
        object = object.property("success", boolean()).required("success");
    }
    let (record, details): (RefOr<Schema>, Option<&str>) = match body {
        Body::Meta(name) => return reference(name),
        Body::Conceal => (reference("ConcealRecord"), Some("ConcealDetails")),
        Body::Secret => (reference("SecretRecord"), Some("SecretDetails")),
        Body::SecretStatus => (
            utoipa::openapi::schema::OneOfBuilder::new()
                .item(reference("SecretRecord"))
                .item(reference("UnknownRecord"))
                .into(),
            Some("StatusDetails"),
        ),
        Body::Receipt => (reference("ReceiptRecord"), Some("ReceiptDetails")),
        Body::ReceiptUpdate => (reference("ReceiptBase"), None),
        Body::SecretList | Body::ReceiptList => {
            let item = if matches!(body, Body::SecretList) {
                "SecretRecord"
            } else {
                "ReceiptBase"
            };
            object = object
                .property(
                    "records",
                    ArrayBuilder::new().items(reference(item)).build(),
                )
                .required("records")
                .property(
                    "count",
                    ObjectBuilder::new().schema_type(Type::Integer).build(),
                )
                .required("count");
            if matches!(body, Body::ReceiptList) {
                object = object
                    .property(
                        "custid",
                        ObjectBuilder::new().schema_type(Type::String).build(),
                    )
                    .property("details", reference("ReceiptListDetails"));
            }
            return object.into();
        }
    };
    object = object.property("record", record).required("record");
    if let Some(details) = details {
        object = object.property("details", reference(details));
    }
    object.into()
}

fn json(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn error_text(status: u16) -> &'static str {
    match status {
        401 => "Credentials missing, wrong, or required (`Unauthorized`)",
        403 => "Anonymous creation is switched off (`GuestRoutesDisabled`)",
        404 => "No such secret or receipt, or no longer (`RecordNotFound`)",
        413 => "Body too large (`FormError`)",
        415 => "Body type or encoding not accepted (`FormError`)",
        422 => "A field was refused (`FormError`, with `field`)",
        429 => "Too many requests or wrong passphrases (`LimitExceeded`)",
        503 => "Store out of reach; try again (`ServerError`)",
        _ => "Unexpected error (`ServerError`)",
    }
}

/// The description of `version`'s API.
pub fn document(version: Version) -> OpenApi {
    let (title, prefix) = match version {
        Version::V2 => ("onetime: Onetime Secret API v2", "/api/v2"),
        Version::V3 => (
            "onetime: Onetime Secret API v3 (guest and status)",
            "/api/v3",
        ),
    };
    let mut paths = PathsBuilder::new();
    for op in operations(version) {
        let mut builder = OperationBuilder::new()
            .summary(Some(op.summary))
            .operation_id(Some(format!("{} {}", op.method, op.path)))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("Success")
                    .content("application/json", json(envelope(version, op.body))),
            );
        if op.method != "GET" {
            builder = builder.request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some(
                        "JSON, urlencoded or multipart; create fields nest under `secret` \
                         (`secret[secret]`, `secret[ttl]`, `secret[passphrase]`, ...)",
                    ))
                    .content(
                        "application/json",
                        json(ObjectBuilder::new().schema_type(Type::Object).into()),
                    )
                    .build(),
            ));
        }
        let mut errors: Vec<u16> = op.errors.to_vec();
        errors.extend([429, 500, 503]);
        for status in errors {
            builder = builder.response(
                status.to_string(),
                ResponseBuilder::new()
                    .description(error_text(status))
                    .content("application/json", json(reference("ErrorBody"))),
            );
        }
        builder = match op.auth {
            Required => builder.security(SecurityRequirement::new("basic", Vec::<String>::new())),
            Optional => builder
                .security(SecurityRequirement::default())
                .security(SecurityRequirement::new("basic", Vec::<String>::new())),
            Guest => builder,
        };
        let method = match op.method {
            "GET" => HttpMethod::Get,
            "PATCH" => HttpMethod::Patch,
            _ => HttpMethod::Post,
        };
        let path = format!("{prefix}{}", op.path);
        paths = paths.path(path, PathItem::new(method, builder));
    }
    let components = ComponentsBuilder::new()
        .schema_from::<SecretState>()
        .schema_from::<ReceiptState>()
        .schema_from::<SecretRecord>()
        .schema_from::<SecretDetails>()
        .schema_from::<UnknownRecord>()
        .schema_from::<StatusDetails>()
        .schema_from::<ReceiptBase>()
        .schema_from::<ReceiptRecord>()
        .schema_from::<ReceiptDetails>()
        .schema_from::<ReceiptListDetails>()
        .schema_from::<ConcealRecord>()
        .schema_from::<ConcealDetails>()
        .schema_from::<StatusBody>()
        .schema_from::<VersionBody>()
        .schema_from::<LocalesBody>()
        .schema_from::<ErrorBody>()
        .security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("account email and API token"))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}
