//! The parts of upstream's v3 API this server speaks (`/api/v3`): the guest routes, the
//! public status routes, the meta routes, the incoming routes (the same as `/api/incoming`),
//! and the secret and receipt routes for accounts (HTTP Basic; upstream's v3 wants a
//! signed-in session there, and its macOS client sends Basic). The handlers are v2's
//! (`super::v2`): v3 answers the same with native JSON types, without `success` and without
//! the `metadata` alias.

use actix_web::web;

use super::v2::{self, error, Access, Surface, Version};

/// Registers every `/api/v3` route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let surface = |access| {
        web::Data::new(Surface {
            version: Version::V3,
            access,
        })
    };
    cfg.service(
        web::scope("/api/v3")
            .configure(|cfg| v2::meta_routes(cfg, Version::V3))
            .service(
                web::scope("/incoming")
                    .configure(super::incoming::routes)
                    .default_service(web::to(error::not_found)),
            )
            .service(
                web::scope("/guest")
                    .app_data(surface(Access::Guest))
                    .configure(v2::guest_routes)
                    .default_service(web::to(error::not_found)),
            )
            .service(
                web::scope("")
                    .app_data(surface(Access::Required))
                    .configure(v2::status_routes(surface(Access::Optional)))
                    .configure(v2::secret_routes)
                    .configure(|cfg| v2::receipt_routes(cfg, "receipt"))
                    .default_service(web::to(error::not_found)),
            ),
    );
}
