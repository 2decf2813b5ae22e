//! Reads a method's return type into an [`Output`]: a value, `Result<T, E>`
//! (the service's typed error) or `RpcStream<T, E>` (a stream).

use syn::{GenericArgument, PathArguments, ReturnType, Type};

use crate::errors::Errors;
use crate::model::Output;

/// Reads a method's return type; one that cannot come back over the
/// network (a reference, `impl Trait`) is a mistake, recorded in `errors`.
pub fn parse_output(output: &ReturnType, errors: &mut Errors) -> Option<Output> {
    let ty = match output {
        ReturnType::Default => return Some(Output::Unit),
        ReturnType::Type(_, ty) => &**ty,
    };
    match ty {
        Type::Tuple(tuple) if tuple.elems.is_empty() => Some(Output::Unit),
        Type::ImplTrait(_) | Type::Reference(_) => {
            errors.error_spanned_by(
                ty,
                "an RPC method returns an owned, concrete type: its value is sent back over the network",
            );
            None
        }
        _ => Some(
            match (result_parts(ty, "Result"), result_parts(ty, "RpcStream")) {
                (Some((ok, err)), _) => Output::Fallible { ok, err },
                (_, Some((item, err))) => Output::Stream { item, err },
                _ => Output::Value(ty.clone()),
            },
        ),
    }
}

/// `Result<T, E>` (any path ending in `name` with two type arguments).
fn result_parts(ty: &Type, name: &str) -> Option<(Type, Type)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    });
    let (ok, err) = (types.next()?, types.next()?);
    (types.next().is_none() && args.args.len() == 2).then_some((ok, err))
}
