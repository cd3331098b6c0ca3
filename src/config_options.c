/*
 * config_options.c - what each module is told, read from the whole
 * configuration (config.h): the modules take options of their own and
 * never see sp_config.
 */
#include "config.h"

#include <stddef.h>

sp_auth_options sp_config_auth_options(const sp_config *cfg)
{
    return (sp_auth_options){
        .issuers = &cfg->oidc_issuers,
        .audience = cfg->oidc_audience,
        .user_claim = cfg->user_claim,
        .roles_claim = cfg->roles_claim,
        .groups_claim = cfg->groups_claim,
        .opaque_issuers = cfg->opaque_issuers_set ? &cfg->opaque_issuers : NULL,
        .email_verified_issuers = &cfg->email_verified_issuers,
    };
}

sp_bus_options sp_config_bus_options(const sp_config *cfg)
{
    return (sp_bus_options){
        .urls = &cfg->nats_urls,
        .data_dir = cfg->data_dir,
        .creds = cfg->nats_creds,
        .user = cfg->nats_user,
        .password = cfg->nats_password,
        .tls_ca = cfg->nats_tls_ca,
        .tls_cert = cfg->nats_tls_cert,
        .tls_key = cfg->nats_tls_key,
        .replicas = cfg->nats_replicas,
    };
}

sp_federation_options sp_config_federation_options(const sp_config *cfg,
                                                   const char *domains[SP_CONFIG_LIST_MAX])
{
    size_t n = 0;
    for (; n < cfg->domain_issuer_count && n < SP_CONFIG_LIST_MAX; n++)
        domains[n] = cfg->domain_issuers[n].domain;
    return (sp_federation_options){.trusted = &cfg->trusted_instances,
                                   .public_url = cfg->public_url,
                                   .dav_url = cfg->dav_url,
                                   .local_domains = domains,
                                   .local_domain_count = n};
}
