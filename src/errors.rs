//! Kafka error codes on the wire. Every error is named through kafka-protocol's `ResponseError`;
//! this module adds what that type has no variant for: Kafka's `Errors.NONE` (0), and turning an
//! outcome into the code a response carries.

use kafka_protocol::error::ResponseError;

/// Kafka's `Errors.NONE`: the code of a success.
pub const NONE: i16 = 0;

/// The error code a response carries for `outcome`.
pub fn code_of<T>(outcome: &Result<T, ResponseError>) -> i16 {
    match outcome {
        Ok(_) => NONE,
        Err(e) => e.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_none_and_errors_keep_their_code() {
        assert_eq!(code_of(&Ok::<(), ResponseError>(())), 0);
        assert_eq!(code_of::<()>(&Err(ResponseError::NotController)), 41);
    }
}
