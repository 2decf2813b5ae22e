//! A method's arguments on the wire: a struct whose fields are the
//! arguments, in order and by name.
//!
//! The generated code holds the values as a list `(a, (b, ()))` and the
//! names as data ([`ArgNames`]); the serde code below writes and reads the
//! list as that struct, the way `#[derive(Serialize, Deserialize)]` on it
//! would (bincode sees the values in order, JSON an object keyed by name,
//! which is oslo.messaging's kwargs). It is compiled once per list of
//! argument types, shared by every method taking the same types, where a
//! derived struct per method would be compiled once per method.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess};
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The struct a method's arguments cross the wire as.
#[derive(Debug, Clone, Copy)]
pub struct ArgNames {
    /// The struct's name (`__RpcArgs_create_volume`), as serde formats see it.
    pub name: &'static str,
    /// The field names, one per argument, in order.
    pub fields: &'static [&'static str],
}

/// A list of argument values: `()`, or a first value and the rest.
///
/// Each method splits the field names it is given into the first one (for
/// its own value) and the rest (for the rest of the list).
pub trait ArgList: Sized + Send + 'static {
    /// The list with every value optional: the fields read so far.
    type Slots;

    /// No field read yet.
    fn empty_slots() -> Self::Slots;

    /// Writes the values as the fields named `fields`.
    fn serialize_fields<S: SerializeStruct>(
        &self,
        fields: &'static [&'static str],
        out: &mut S,
    ) -> Result<(), S::Error>;

    /// Reads the values in order; `read` values came before this list.
    fn from_seq<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        read: usize,
        expected: &dyn de::Expected,
    ) -> Result<Self, A::Error>;

    /// Reads the value of the field at `index` into its slot.
    fn fill<'de, A: MapAccess<'de>>(
        slots: &mut Self::Slots,
        index: usize,
        fields: &'static [&'static str],
        map: &mut A,
    ) -> Result<(), A::Error>;

    /// The values, once every field was read; a missing `Option` is `None`.
    fn from_slots<E: de::Error>(
        slots: Self::Slots,
        fields: &'static [&'static str],
    ) -> Result<Self, E>;
}

impl ArgList for () {
    type Slots = ();

    fn empty_slots() {}

    fn serialize_fields<S: SerializeStruct>(
        &self,
        _: &'static [&'static str],
        _: &mut S,
    ) -> Result<(), S::Error> {
        Ok(())
    }

    fn from_seq<'de, A: SeqAccess<'de>>(
        _: &mut A,
        _: usize,
        _: &dyn de::Expected,
    ) -> Result<Self, A::Error> {
        Ok(())
    }

    fn fill<'de, A: MapAccess<'de>>(
        _: &mut (),
        _: usize,
        _: &'static [&'static str],
        map: &mut A,
    ) -> Result<(), A::Error> {
        map.next_value::<de::IgnoredAny>().map(drop)
    }

    fn from_slots<E: de::Error>(_: (), _: &'static [&'static str]) -> Result<Self, E> {
        Ok(())
    }
}

impl<H, T> ArgList for (H, T)
where
    H: Serialize + DeserializeOwned + Send + 'static,
    T: ArgList,
{
    type Slots = (Option<H>, T::Slots);

    fn empty_slots() -> Self::Slots {
        (None, T::empty_slots())
    }

    fn serialize_fields<S: SerializeStruct>(
        &self,
        fields: &'static [&'static str],
        out: &mut S,
    ) -> Result<(), S::Error> {
        let (name, rest) = split(fields);
        out.serialize_field(name, &self.0)?;
        self.1.serialize_fields(rest, out)
    }

    fn from_seq<'de, A: SeqAccess<'de>>(
        seq: &mut A,
        read: usize,
        expected: &dyn de::Expected,
    ) -> Result<Self, A::Error> {
        let Some(head) = seq.next_element::<H>()? else {
            return Err(de::Error::invalid_length(read, expected));
        };
        Ok((head, T::from_seq(seq, read + 1, expected)?))
    }

    fn fill<'de, A: MapAccess<'de>>(
        slots: &mut Self::Slots,
        index: usize,
        fields: &'static [&'static str],
        map: &mut A,
    ) -> Result<(), A::Error> {
        let (name, rest) = split(fields);
        if index > 0 {
            return T::fill(&mut slots.1, index - 1, rest, map);
        }
        if slots.0.is_some() {
            return Err(de::Error::duplicate_field(name));
        }
        slots.0 = Some(map.next_value()?);
        Ok(())
    }

    fn from_slots<E: de::Error>(
        slots: Self::Slots,
        fields: &'static [&'static str],
    ) -> Result<Self, E> {
        let (name, rest) = split(fields);
        let head = match slots.0 {
            Some(head) => head,
            None => H::deserialize(MissingField(name, PhantomData))?,
        };
        Ok((head, T::from_slots(slots.1, rest)?))
    }
}

/// The first name and the rest (the macro gives one name per value).
fn split(fields: &'static [&'static str]) -> (&'static str, &'static [&'static str]) {
    match fields.split_first() {
        Some((first, rest)) => (first, rest),
        None => ("", &[]),
    }
}

/// `args` as the struct `names` describes.
pub(crate) struct Named<'a, A> {
    pub(crate) names: ArgNames,
    pub(crate) args: &'a A,
}

impl<A: ArgList> Serialize for Named<'_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct(self.names.name, self.names.fields.len())?;
        self.args.serialize_fields(self.names.fields, &mut out)?;
        out.end()
    }
}

/// Reads an `A` as the struct `names` describes.
pub(crate) struct NamedSeed<A> {
    pub(crate) names: ArgNames,
    pub(crate) list: PhantomData<A>,
}

impl<'de, A: ArgList> DeserializeSeed<'de> for NamedSeed<A> {
    type Value = A;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<A, D::Error> {
        deserializer.deserialize_struct(self.names.name, self.names.fields, self)
    }
}

impl<'de, A: ArgList> de::Visitor<'de> for NamedSeed<A> {
    type Value = A;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "struct {}", self.names.name)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<A, S::Error> {
        A::from_seq(&mut seq, 0, &Elements(self.names))
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<A, M::Error> {
        let fields = self.names.fields;
        let mut slots = A::empty_slots();
        while let Some(field) = map.next_key_seed(Field(fields))? {
            match field {
                Some(index) => A::fill(&mut slots, index, fields, &mut map)?,
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        A::from_slots(slots, fields)
    }
}

/// What a too short sequence should have been: "struct X with 2 elements".
struct Elements(ArgNames);

impl de::Expected for Elements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.fields.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(f, "struct {} with {count} element{plural}", self.0.name)
    }
}

/// A field's key: the index of the field it names, `None` for another key.
struct Field(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Field {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl de::Visitor<'_> for Field {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_u64<E: de::Error>(self, index: u64) -> Result<Self::Value, E> {
        Ok(usize::try_from(index)
            .ok()
            .filter(|&index| index < self.0.len()))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|field| *field == key))
    }

    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|field| field.as_bytes() == key))
    }
}

/// A field absent from a map: `None` for an `Option`, an error otherwise.
struct MissingField<E>(&'static str, PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for MissingField<E> {
    type Error = E;

    fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
        Err(E::missing_field(self.0))
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{AnyCodec, Bincode, Codec, Json};

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Derived {
        name: String,
        size: u32,
        tag: Option<String>,
    }

    const NAMES: ArgNames = ArgNames {
        name: "Derived",
        fields: &["name", "size", "tag"],
    };

    type List = (String, (u32, (Option<String>, ())));

    fn list() -> List {
        ("db".to_owned(), (10, (Some("x".to_owned()), ())))
    }

    fn derived() -> Derived {
        Derived {
            name: "db".to_owned(),
            size: 10,
            tag: Some("x".to_owned()),
        }
    }

    fn decode(codec: &AnyCodec, body: &[u8]) -> Result<List, String> {
        let seed = NamedSeed {
            names: NAMES,
            list: PhantomData,
        };
        codec.decode_seed(seed, body).map_err(|e| e.to_string())
    }

    /// The list is written and read exactly as the derived struct would be.
    #[test]
    fn the_same_bytes_as_a_derived_struct() {
        let codecs = [
            AnyCodec::Bincode(Bincode::default()),
            AnyCodec::Json(Json::default()),
        ];
        for codec in codecs {
            let named = Named {
                names: NAMES,
                args: &list(),
            };
            let bytes = codec.encode(&named).unwrap();
            assert_eq!(bytes, codec.encode(&derived()).unwrap());
            assert_eq!(decode(&codec, &bytes).unwrap(), list());
        }
    }

    /// Missing, repeated, unknown and wrong fields read as they would for
    /// the derived struct.
    #[test]
    fn json_objects_read_like_a_derived_struct() {
        let codec = AnyCodec::Json(Json::default());
        let cases: [&[u8]; 7] = [
            br#"{"size": 10, "name": "db", "other": [1]}"#,
            br#"{"name": "db"}"#,
            br#"{"name": "db", "name": "db", "size": 1}"#,
            br#"{"name": 1, "size": 1}"#,
            br#"["db", 10]"#,
            br#"["db", 10, null]"#,
            br#"7"#,
        ];
        for body in cases {
            let derived = codec
                .decode::<Derived>(body)
                .map(|d| (d.name, (d.size, (d.tag, ()))))
                .map_err(|e| e.to_string());
            assert_eq!(
                decode(&codec, body),
                derived,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// A kwargs object without an `Option` argument's key reads it as
    /// `None` (as with `null`); without another argument's key it is an
    /// error naming the argument.
    #[test]
    fn a_missing_option_reads_as_none() {
        let codec = AnyCodec::Json(Json::default());
        let none = Ok(("db".to_owned(), (10, (None, ()))));
        assert_eq!(decode(&codec, br#"{"name": "db", "size": 10}"#), none);
        assert_eq!(
            decode(&codec, br#"{"size": 10, "tag": null, "name": "db"}"#),
            none
        );
        let missing = decode(&codec, br#"{"name": "db", "tag": "x"}"#).unwrap_err();
        assert!(missing.contains("missing field `size`"), "{missing}");
    }
}
