//! Kafka's ACL vocabulary (`org.apache.kafka.common.acl` / `resource`): resource types, pattern
//! types, operations and permission types with their wire codes and the names Kafka writes in
//! ZooKeeper, and one ACL entry (`AccessControlEntry`) with the filters DescribeAcls/DeleteAcls use.

use serde::{Deserialize, Serialize};

/// Declares an enum whose variants have a wire code (`i8`), the name in znode JSON and paths
/// (`Topic`, `IdempotentWrite`) and the upper-case enum name (`TOPIC`, used in change notifications).
macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal, $camel:literal, $upper:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }

            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// The name Kafka writes in znodes (`SecurityUtils.*Name`).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $camel),* }
            }

            /// The Java enum's name (`TOPIC`), as in Kafka's ACL change notifications.
            pub fn upper(self) -> &'static str {
                match self { $($name::$variant => $upper),* }
            }

            /// Either spelling, case-insensitively (Kafka's `fromString`s accept both).
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| {
                    v.name().eq_ignore_ascii_case(s) || v.upper().eq_ignore_ascii_case(s)
                })
            }
        }
    };
}

kafka_enum!(
    /// Kafka's `ResourceType` (ANY = 1 is a filter only; UNKNOWN = 0 is never stored).
    ResourceType {
        Any = 1, "Any", "ANY";
        Topic = 2, "Topic", "TOPIC";
        Group = 3, "Group", "GROUP";
        Cluster = 4, "Cluster", "CLUSTER";
        TransactionalId = 5, "TransactionalId", "TRANSACTIONAL_ID";
        DelegationToken = 6, "DelegationToken", "DELEGATION_TOKEN";
        User = 7, "User", "USER";
    }
);

kafka_enum!(
    /// Kafka's `PatternType`: ANY and MATCH are filters only.
    PatternType {
        Any = 1, "Any", "ANY";
        Match = 2, "Match", "MATCH";
        Literal = 3, "Literal", "LITERAL";
        Prefixed = 4, "Prefixed", "PREFIXED";
    }
);

kafka_enum!(
    /// Kafka's `AclOperation` (ANY is a filter only).
    AclOperation {
        Any = 1, "Any", "ANY";
        All = 2, "All", "ALL";
        Read = 3, "Read", "READ";
        Write = 4, "Write", "WRITE";
        Create = 5, "Create", "CREATE";
        Delete = 6, "Delete", "DELETE";
        Alter = 7, "Alter", "ALTER";
        Describe = 8, "Describe", "DESCRIBE";
        ClusterAction = 9, "ClusterAction", "CLUSTER_ACTION";
        DescribeConfigs = 10, "DescribeConfigs", "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "AlterConfigs", "ALTER_CONFIGS";
        IdempotentWrite = 12, "IdempotentWrite", "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CreateTokens", "CREATE_TOKENS";
        DescribeTokens = 14, "DescribeTokens", "DESCRIBE_TOKENS";
    }
);

kafka_enum!(
    /// Kafka's `AclPermissionType` (ANY is a filter only).
    AclPermissionType {
        Any = 1, "Any", "ANY";
        Deny = 2, "Deny", "DENY";
        Allow = 3, "Allow", "ALLOW";
    }
);

/// The name of the one CLUSTER resource (Kafka's `CLUSTER_NAME`).
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The wildcard resource name, principal name and host (`ResourcePattern.WILDCARD_RESOURCE`).
pub const WILDCARD: &str = "*";
/// The wildcard principal (`User:*`).
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// A stored resource: type, name and LITERAL or PREFIXED (Kafka's `ResourcePattern`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

/// One ACL on a resource (Kafka's `AccessControlEntry`): principal and host are kept as written
/// (`User:alice`, `*`, an IP address).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclEntry {
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

/// A DescribeAcls/DeleteAcls filter (`AclBindingFilter`); `None` strings match anything.
#[derive(Debug, Clone)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// Kafka's `ResourcePatternFilter.matches`: MATCH takes the literal name, the wildcard and
    /// every prefix of the name; ANY takes any pattern type with exactly this name.
    pub fn matches_pattern(&self, p: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != p.resource_type {
            return false;
        }
        match self.pattern_type {
            PatternType::Any => self.name.as_ref().is_none_or(|n| *n == p.name),
            PatternType::Match => match &self.name {
                None => true,
                Some(n) => match p.pattern_type {
                    PatternType::Literal => p.name == *n || p.name == WILDCARD,
                    PatternType::Prefixed => n.starts_with(&p.name),
                    _ => false,
                },
            },
            exact => exact == p.pattern_type && self.name.as_ref().is_none_or(|n| *n == p.name),
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    pub fn matches_entry(&self, e: &AclEntry) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == e.principal)
            && self.host.as_ref().is_none_or(|h| *h == e.host)
            && (self.operation == AclOperation::Any || self.operation == e.operation)
            && (self.permission == AclPermissionType::Any || self.permission == e.permission)
    }
}

/// The JSON of `/kafka-acl/<Type>/<name>`: `{"version":1,"acls":[...]}` (Kafka's `AclEntry`
/// object, names as in [`AclOperation::name`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct AclZnode {
    pub version: i32,
    pub acls: Vec<AclZnodeEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclZnodeEntry {
    pub principal: String,
    pub permission_type: String,
    pub operation: String,
    pub host: String,
}

impl AclZnode {
    pub fn new(entries: &[AclEntry]) -> Self {
        AclZnode {
            version: 1,
            acls: entries
                .iter()
                .map(|e| AclZnodeEntry {
                    principal: e.principal.clone(),
                    permission_type: e.permission.name().to_string(),
                    operation: e.operation.name().to_string(),
                    host: e.host.clone(),
                })
                .collect(),
        }
    }

    /// The entries, or the first one Kafka could not have written.
    pub fn entries(&self) -> Result<Vec<AclEntry>, String> {
        self.acls
            .iter()
            .map(|a| {
                Ok(AclEntry {
                    principal: a.principal.clone(),
                    host: a.host.clone(),
                    operation: AclOperation::parse(&a.operation)
                        .ok_or_else(|| format!("unknown operation {:?}", a.operation))?,
                    permission: AclPermissionType::parse(&a.permission_type)
                        .ok_or_else(|| format!("unknown permission {:?}", a.permission_type))?,
                })
            })
            .collect()
    }
}

/// A `/kafka-acl-extended-changes` notification: `{"version":1,"resourceType":"TOPIC","name":..,
/// "patternType":"PREFIXED"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedAclChange {
    pub version: i32,
    pub resource_type: String,
    pub name: String,
    pub pattern_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn znode_json_is_what_kafka_acls_writes() {
        // Written by Kafka 3.9's kafka-acls --authorizer-properties zookeeper.connect=...
        let kafka = br#"{"acls":[{"principal":"User:alice","permissionType":"Allow","host":"*","operation":"Read"}],"version":1}"#;
        let z: AclZnode = serde_json::from_slice(kafka).unwrap();
        let entries = z.entries().unwrap();
        assert_eq!(
            entries,
            [AclEntry {
                principal: "User:alice".into(),
                host: "*".into(),
                operation: AclOperation::Read,
                permission: AclPermissionType::Allow,
            }]
        );
        let back: serde_json::Value = serde_json::to_value(AclZnode::new(&entries)).unwrap();
        assert_eq!(
            back,
            serde_json::from_slice::<serde_json::Value>(kafka).unwrap()
        );
        assert_eq!(
            AclOperation::parse("IdempotentWrite"),
            Some(AclOperation::IdempotentWrite)
        );
        assert_eq!(
            ResourceType::parse("TRANSACTIONAL_ID"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(
            AclOperation::from_code(9),
            Some(AclOperation::ClusterAction)
        );
    }

    #[test]
    fn filters_match_as_kafkas() {
        let p = |name: &str, pt| ResourcePattern {
            resource_type: ResourceType::Topic,
            name: name.into(),
            pattern_type: pt,
        };
        let f = |name: Option<&str>, pt| AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: name.map(String::from),
            pattern_type: pt,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        };
        let m = f(Some("orders-eu"), PatternType::Match);
        assert!(m.matches_pattern(&p("orders-eu", PatternType::Literal)));
        assert!(m.matches_pattern(&p("*", PatternType::Literal)));
        assert!(m.matches_pattern(&p("orders-", PatternType::Prefixed)));
        assert!(!m.matches_pattern(&p("orders-e", PatternType::Literal)));
        let any = f(Some("orders-"), PatternType::Any);
        assert!(any.matches_pattern(&p("orders-", PatternType::Prefixed)));
        assert!(any.matches_pattern(&p("orders-", PatternType::Literal)));
        assert!(!any.matches_pattern(&p("orders-eu", PatternType::Literal)));
        assert!(f(None, PatternType::Literal).matches_pattern(&p("x", PatternType::Literal)));
        assert!(!f(None, PatternType::Literal).matches_pattern(&p("x", PatternType::Prefixed)));
    }
}
