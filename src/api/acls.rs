//! DescribeAcls, CreateAcls and DeleteAcls (v0–3) as Kafka 3.9's `AclApis`: SECURITY_DISABLED
//! without an authorizer, CLUSTER Describe to list and CLUSTER Alter to change, filters with
//! Kafka's ANY and MATCH pattern types. Changes go to ZooKeeper through the authorizer, which
//! notifies the other brokers as Kafka's `AclAuthorizer` does.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authorize::Access;
use super::{encode, KafkaApis};
use crate::metadata::str_bytes;
use crate::network::Reply;
use crate::security::acl::{
    AclBindingFilter, AclEntry, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};
use crate::security::KafkaPrincipal;

const NO_AUTHORIZER: &str = "No Authorizer is configured.";

/// Why a request's filter or creation cannot be used: (error, message).
type Invalid = (ResponseError, String);

impl KafkaApis {
    pub(super) fn describe_acls(
        &self,
        req: DescribeAclsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let fail = |e: ResponseError, msg: &str| {
            encode(
                &DescribeAclsResponse::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(msg.to_string()))),
                version,
            )
        };
        let Some(authorizer) = access.authorizer() else {
            return fail(ResponseError::SecurityDisabled, NO_AUTHORIZER);
        };
        if !access.cluster(AclOperation::Describe) {
            return fail(ResponseError::ClusterAuthorizationFailed, "");
        }
        let filter = match filter(
            req.resource_type_filter,
            req.resource_name_filter,
            req.pattern_type_filter,
            req.principal_filter,
            req.host_filter,
            req.operation,
            req.permission_type,
        ) {
            Ok(f) => f,
            Err((e, msg)) => return fail(e, &msg),
        };
        let resources = authorizer
            .describe(&filter)
            .into_iter()
            .map(|(p, entries)| {
                DescribeAclsResource::default()
                    .with_resource_type(p.resource_type.code())
                    .with_resource_name(str_bytes(p.name))
                    .with_pattern_type(p.pattern_type.code())
                    .with_acls(
                        entries
                            .into_iter()
                            .map(|e| {
                                AclDescription::default()
                                    .with_principal(str_bytes(e.principal))
                                    .with_host(str_bytes(e.host))
                                    .with_operation(e.operation.code())
                                    .with_permission_type(e.permission.code())
                            })
                            .collect(),
                    )
            })
            .collect();
        encode(
            &DescribeAclsResponse::default().with_resources(resources),
            version,
        )
    }

    pub(super) async fn create_acls(
        &self,
        req: CreateAclsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let n = req.creations.len();
        let all = |e: ResponseError, msg: &str| {
            let result = AclCreationResult::default()
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(msg.to_string())));
            encode(
                &CreateAclsResponse::default().with_results(vec![result; n]),
                version,
            )
        };
        let Some(authorizer) = access.authorizer() else {
            return all(ResponseError::SecurityDisabled, NO_AUTHORIZER);
        };
        if !access.cluster(AclOperation::Alter) {
            return all(ResponseError::ClusterAuthorizationFailed, "");
        }
        // Valid creations grouped by resource (one ZooKeeper write each), remembering their places.
        let mut outcomes: Vec<Result<(), Invalid>> = Vec::with_capacity(n);
        let mut by_resource: BTreeMap<ResourcePattern, (Vec<AclEntry>, Vec<usize>)> =
            BTreeMap::new();
        for (i, c) in req.creations.into_iter().enumerate() {
            match creation(c) {
                Ok((pattern, entry)) => {
                    let slot = by_resource.entry(pattern).or_default();
                    slot.0.push(entry);
                    slot.1.push(i);
                    outcomes.push(Ok(()));
                }
                Err(invalid) => outcomes.push(Err(invalid)),
            }
        }
        let zk = self.zk();
        for (pattern, (entries, places)) in by_resource {
            if let Err(e) = authorizer.add_acls(&zk, &pattern, &entries).await {
                tracing::warn!(resource = ?pattern, error = %e, "cannot create ACLs");
                for i in places {
                    outcomes[i] = Err((ResponseError::UnknownServerError, e.to_string()));
                }
            } else {
                tracing::info!(resource = ?pattern, acls = ?entries, "ACLs created");
            }
        }
        let results = outcomes
            .into_iter()
            .map(|o| match o {
                Ok(()) => AclCreationResult::default(),
                Err((e, msg)) => AclCreationResult::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(msg))),
            })
            .collect();
        encode(
            &CreateAclsResponse::default().with_results(results),
            version,
        )
    }

    pub(super) async fn delete_acls(
        &self,
        req: DeleteAclsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let n = req.filters.len();
        let all = |e: ResponseError, msg: &str| {
            let result = DeleteAclsFilterResult::default()
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(msg.to_string())));
            encode(
                &DeleteAclsResponse::default().with_filter_results(vec![result; n]),
                version,
            )
        };
        let Some(authorizer) = access.authorizer() else {
            return all(ResponseError::SecurityDisabled, NO_AUTHORIZER);
        };
        if !access.cluster(AclOperation::Alter) {
            return all(ResponseError::ClusterAuthorizationFailed, "");
        }
        let zk = self.zk();
        let mut results = Vec::with_capacity(n);
        for f in req.filters {
            results.push(match delete_filter(f) {
                Err((e, msg)) => DeleteAclsFilterResult::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(msg))),
                Ok(filter) => {
                    let mut result = DeleteAclsFilterResult::default();
                    for pattern in authorizer.patterns() {
                        if !filter.matches_pattern(&pattern) {
                            continue;
                        }
                        match authorizer.remove_acls(&zk, &pattern, &filter).await {
                            Ok(removed) => {
                                if !removed.is_empty() {
                                    tracing::info!(resource = ?pattern, acls = ?removed, "ACLs deleted");
                                }
                                result
                                    .matching_acls
                                    .extend(removed.into_iter().map(|e| matching(&pattern, e)));
                            }
                            Err(e) => {
                                result.error_code = ResponseError::UnknownServerError.code();
                                result.error_message = Some(str_bytes(e.to_string()));
                                break;
                            }
                        }
                    }
                    result
                }
            });
        }
        encode(
            &DeleteAclsResponse::default().with_filter_results(results),
            version,
        )
    }
}

fn matching(p: &ResourcePattern, e: AclEntry) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(p.resource_type.code())
        .with_resource_name(str_bytes(p.name.clone()))
        .with_pattern_type(p.pattern_type.code())
        .with_principal(str_bytes(e.principal))
        .with_host(str_bytes(e.host))
        .with_operation(e.operation.code())
        .with_permission_type(e.permission.code())
}

fn delete_filter(f: DeleteAclsFilter) -> Result<AclBindingFilter, Invalid> {
    filter(
        f.resource_type_filter,
        f.resource_name_filter,
        f.pattern_type_filter,
        f.principal_filter,
        f.host_filter,
        f.operation,
        f.permission_type,
    )
}

fn invalid(msg: impl Into<String>) -> Invalid {
    (ResponseError::InvalidRequest, msg.into())
}

/// A filter from its wire fields; UNKNOWN (0) or an undefined code is INVALID_REQUEST, as the
/// Java client's `AclBindingFilter` would never send it.
#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: i8,
    name: Option<StrBytes>,
    pattern_type: i8,
    principal: Option<StrBytes>,
    host: Option<StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclBindingFilter, Invalid> {
    let code = |what: &str, c: i8| invalid(format!("unknown {what} code {c}"));
    Ok(AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type)
            .ok_or_else(|| code("resource type", resource_type))?,
        name: name.map(|n| n.to_string()),
        pattern_type: PatternType::from_code(pattern_type)
            .ok_or_else(|| code("pattern type", pattern_type))?,
        principal: principal.map(|p| p.to_string()),
        host: host.map(|h| h.to_string()),
        operation: AclOperation::from_code(operation)
            .ok_or_else(|| code("operation", operation))?,
        permission: AclPermissionType::from_code(permission)
            .ok_or_else(|| code("permission type", permission))?,
    })
}

/// A stored ACL from a creation: a concrete resource type and pattern type (not ANY/MATCH), an
/// operation and permission that are not ANY, a principal `Type:name`.
fn creation(c: AclCreation) -> Result<(ResourcePattern, AclEntry), Invalid> {
    let resource_type = ResourceType::from_code(c.resource_type)
        .filter(|t| *t != ResourceType::Any)
        .ok_or_else(|| invalid(format!("Invalid resource type {}", c.resource_type)))?;
    let pattern_type = PatternType::from_code(c.resource_pattern_type)
        .filter(|p| matches!(p, PatternType::Literal | PatternType::Prefixed))
        .ok_or_else(|| invalid(format!("Invalid pattern type {}", c.resource_pattern_type)))?;
    let operation = AclOperation::from_code(c.operation)
        .filter(|o| *o != AclOperation::Any)
        .ok_or_else(|| invalid(format!("Invalid operation {}", c.operation)))?;
    let permission = AclPermissionType::from_code(c.permission_type)
        .filter(|p| *p != AclPermissionType::Any)
        .ok_or_else(|| invalid(format!("Invalid permission type {}", c.permission_type)))?;
    let principal = c.principal.to_string();
    principal.parse::<KafkaPrincipal>().map_err(invalid)?;
    if c.resource_name.is_empty() {
        return Err(invalid("Resource name should not be empty"));
    }
    Ok((
        ResourcePattern {
            resource_type,
            name: c.resource_name.to_string(),
            pattern_type,
        },
        AclEntry {
            principal,
            host: c.host.to_string(),
            operation,
            permission,
        },
    ))
}
