//! Contract fuzzing: schemathesis against each service's OpenAPI document on a running stack.
