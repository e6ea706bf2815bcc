use std::collections::BTreeMap;

use arrow_array::StringArray;
use spillway_core::batch::json_text;

use super::*;

/// A row as the tree decoder yields it.
struct Doc {
    id: String,
    deleted: bool,
    fields: Vec<(String, Value)>,
}

/// The reference: per field the least upper bound of the batch's values (Int64 ⊔ Float64 with
/// an integer a DOUBLE would round → JSON), every value then converted to that type, JSON
/// cells in `export_json` form — written the obvious way, from whole rows.
fn reference(docs: &[Doc]) -> RecordBatch {
    let maps: Vec<BTreeMap<&str, &Value>> = docs
        .iter()
        .map(|d| match d.deleted {
            true => BTreeMap::new(),
            false => d.fields.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        })
        .collect();
    let mut types: BTreeMap<&str, (ColumnType, bool)> = BTreeMap::new();
    for m in &maps {
        for (k, v) in m {
            let (t, big) = types.entry(k).or_insert((ColumnType::Null, false));
            *big |= matches!(v, Value::Int64(i) if !int_fits_f64(*i));
            *t = t.widen(value_type(v));
        }
    }
    let mut fields = system_fields();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(docs.iter().map(|d| &d.id))),
        Arc::new(arrow_array::Float64Array::from(vec![
            None::<f64>;
            docs.len()
        ])),
        Arc::new(arrow_array::Int64Array::from_iter_values(
            0..docs.len() as i64,
        )),
        Arc::new(arrow_array::BooleanArray::from_iter(
            docs.iter().map(|d| Some(d.deleted)),
        )),
    ];
    for (name, (t, big)) in types {
        let t = if t == ColumnType::Float64 && big {
            ColumnType::Json
        } else {
            t
        };
        fields.push(t.field(name));
        fn get<'v>(m: &BTreeMap<&str, &'v Value>, name: &str) -> Option<&'v Value> {
            m.get(name).copied().filter(|v| **v != Value::Null)
        }
        let get = |m| get(m, name);
        let array: ArrayRef = match t {
            ColumnType::Null => Arc::new(NullArray::new(docs.len())),
            ColumnType::Boolean => Arc::new(arrow_array::BooleanArray::from_iter(maps.iter().map(
                |m| match get(m) {
                    Some(Value::Boolean(b)) => Some(*b),
                    _ => None,
                },
            ))),
            ColumnType::Int64 => Arc::new(arrow_array::Int64Array::from_iter(maps.iter().map(
                |m| match get(m) {
                    Some(Value::Int64(i)) => Some(*i),
                    _ => None,
                },
            ))),
            ColumnType::Float64 => Arc::new(arrow_array::Float64Array::from_iter(maps.iter().map(
                |m| match get(m) {
                    Some(Value::Float64(f)) => Some(*f),
                    Some(Value::Int64(i)) => Some(*i as f64),
                    _ => None,
                },
            ))),
            ColumnType::Utf8 => {
                Arc::new(StringArray::from_iter(maps.iter().map(|m| match get(m) {
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => None,
                })))
            }
            ColumnType::Binary => Arc::new(arrow_array::BinaryArray::from_iter(maps.iter().map(
                |m| match get(m) {
                    Some(Value::Bytes(b)) => Some(b.clone()),
                    _ => None,
                },
            ))),
            ColumnType::Json => Arc::new(StringArray::from_iter(
                maps.iter()
                    .map(|m| get(m).map(|v| v.to_json_string(Format::ExportJson))),
            )),
        };
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn built(stream: &StreamId, docs: &[Doc]) -> RecordBatch {
    let mut t = TableColumns::new();
    for (i, d) in docs.iter().enumerate() {
        let meta = RowMeta {
            id: &d.id,
            creation_time: None,
            ts: i as i64,
            deleted: d.deleted,
        };
        t.push_row(meta, d.fields.iter().map(|(k, v)| (k, Cell::of(v))))
            .unwrap();
    }
    t.finish(stream).unwrap().rows
}

/// Batches equal cell by cell (NaN compared by its bits, through the JSON text).
fn assert_same(a: &RecordBatch, b: &RecordBatch, what: &str) {
    assert_eq!(a.schema(), b.schema(), "{what}");
    for (i, field) in a.schema().fields().iter().enumerate() {
        let ty = ColumnType::of_field(field).unwrap();
        for row in 0..a.num_rows() {
            assert_eq!(
                json_text(a.column(i), ty, row),
                json_text(b.column(i), ty, row),
                "{what}: column {} row {row}",
                field.name()
            );
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn scalar(r: &mut Rng, kind: u64) -> Value {
    match kind {
        0 => Value::Null,
        1 => Value::Boolean(r.below(2) == 0),
        2 => Value::Int64(match r.below(4) {
            0 => i64::MAX - r.below(9) as i64,
            1 => (1 << 53) + 1,
            _ => r.below(1000) as i64 - 500,
        }),
        3 => Value::Float64(match r.below(6) {
            0 => f64::NAN,
            1 => -0.0,
            2 => f64::INFINITY,
            _ => r.below(10_000) as f64 / 7.0,
        }),
        4 => Value::String(["", "a\"b\\c", "Zoë 🚀", "x\ny", "plain"][r.below(5) as usize].into()),
        5 => Value::Bytes((0..r.below(5)).map(|i| i as u8 * 51).collect()),
        6 => {
            let n = r.below(3);
            Value::Array(
                (0..n)
                    .map(|_| {
                        let kind = 2 + r.below(3);
                        scalar(r, kind)
                    })
                    .collect(),
            )
        }
        _ => {
            let kind = r.below(6);
            let mut m = BTreeMap::from([("k".to_string(), scalar(r, kind))]);
            if r.below(2) == 0 {
                m.insert("w".to_string(), Value::Null);
            }
            Value::Object(m)
        }
    }
}

/// Random documents whose fields each lean to one type but mix others in, in random order.
fn docs(r: &mut Rng, n: usize) -> Vec<Doc> {
    let names = ["a", "B", "c", "d_e", "zé", "f"];
    let lean: Vec<u64> = names.iter().map(|_| r.below(8)).collect();
    (0..n)
        .map(|i| {
            let mut fields: Vec<(String, Value)> = Vec::new();
            for (k, lean) in names.iter().zip(&lean) {
                if r.below(4) == 0 {
                    continue;
                }
                let kind = if r.below(6) == 0 { r.below(8) } else { *lean };
                fields.push((k.to_string(), scalar(r, kind)));
            }
            if r.below(3) == 0 {
                let len = fields.len();
                let k = r.below(len.max(1) as u64) as usize;
                fields.rotate_left(k.min(len));
            }
            Doc {
                id: format!("id{i}"),
                deleted: r.below(10) == 0,
                fields,
            }
        })
        .collect()
}

#[test]
fn columns_equal_the_whole_row_reference_on_random_mixes() {
    let stream = StreamId::root("t");
    let mut r = Rng(7);
    for case in 0..400 {
        let n = 1 + r.below(40) as usize;
        let docs = docs(&mut r, n);
        assert_same(
            &built(&stream, &docs),
            &reference(&docs),
            &format!("case {case}"),
        );
    }
}

#[test]
fn every_type_change_gives_the_least_upper_bound() {
    let stream = StreamId::root("t");
    let v = |kind: u64| scalar(&mut Rng(kind), kind);
    // Every ordered pair of kinds, with a null before, between and after.
    for a in 0..8 {
        for b in 0..8 {
            let docs: Vec<Doc> = [Value::Null, v(a), Value::Null, v(b), Value::Null]
                .into_iter()
                .enumerate()
                .map(|(i, x)| Doc {
                    id: i.to_string(),
                    deleted: false,
                    fields: vec![("f".into(), x)],
                })
                .collect();
            assert_same(
                &built(&stream, &docs),
                &reference(&docs),
                &format!("{a} then {b}"),
            );
        }
    }
    // Int64 + Float64 is a DOUBLE column, unless an integer would round: then exact JSON.
    let doc = |x: Value| Doc {
        id: "x".into(),
        deleted: false,
        fields: vec![("n".into(), x)],
    };
    let b = built(&stream, &[doc(Value::Int64(2)), doc(Value::Float64(2.5))]);
    assert_eq!(
        b.schema().field(4).data_type(),
        &arrow_schema::DataType::Float64
    );
    let b = built(
        &stream,
        &[
            doc(Value::Float64(2.5)),
            doc(Value::Int64((1 << 53) + 1)),
            doc(Value::Int64(2)),
        ],
    );
    let j = b.column(4).as_string::<i32>();
    assert_eq!(
        (j.value(0), j.value(1), j.value(2)),
        ("2.5", "9007199254740993", "2")
    );
}

#[test]
fn a_field_named_twice_is_refused() {
    let mut t = TableColumns::new();
    let meta = RowMeta {
        id: "a",
        creation_time: None,
        ts: 1,
        deleted: false,
    };
    let e = t
        .push_row(meta, [("x", Cell::Int(1)), ("x", Cell::Int(2))])
        .unwrap_err();
    assert!(e.contains("field `x` twice"), "{e}");
}
