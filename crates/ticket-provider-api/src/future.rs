//! The boxed future that provider constructors, self-checks and extension methods return;
//! a module of its own so that the registry and the traits it builds need not import each
//! other for it.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
