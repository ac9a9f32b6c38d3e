//! `/status`, `/version`, `/supported-locales` and `/openapi.json` of v2 and v3.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::V2Error;
use super::model::{LocalesBody, StatusBody, VersionBody};
use super::{authenticate, caller, ok_json, openapi, Surface};
use crate::accounts::Accounts;
use crate::service::Service;

pub(super) async fn meta(
    req: HttpRequest,
    which: web::Path<String>,
    service: web::Data<Service>,
    accounts: web::Data<Accounts>,
    surface: web::Data<Surface>,
) -> Result<HttpResponse, V2Error> {
    let success = surface.success(true);
    Ok(match which.as_str() {
        "status" => {
            // Public, like upstream's; a bad header is still refused.
            authenticate(&req, &accounts).await?;
            let status = if service.health().await.is_ok() {
                "nominal"
            } else {
                "offline"
            };
            ok_json(&StatusBody {
                success,
                status,
                locale: "en",
            })
        }
        "supported-locales" => ok_json(&LocalesBody {
            success,
            locales: crate::http::web::i18n::catalogs()
                .iter()
                .map(|c| c.lang)
                .collect(),
            default_locale: "en",
            locale: "en",
        }),
        "openapi.json" => ok_json(&openapi::document(surface.version)),
        // The exact build is what fingerprinting wants: accounts only, as upstream.
        _ => {
            caller(&req, &accounts, **surface).await?;
            ok_json(&VersionBody {
                success,
                version: env!("CARGO_PKG_VERSION")
                    .split('.')
                    .filter_map(|p| p.parse().ok())
                    .collect(),
                locale: "en",
            })
        }
    })
}
