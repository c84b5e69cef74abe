//! Our .proto files against the published contract (proto/wire_contract.txt, printed from Fivetran's
//! own files): a renamed, renumbered or retyped field, enum value or rpc fails here, whatever the
//! comments say. The Python side checks the same fixture with protoc's descriptors.

use std::path::Path;

use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};

const PACKAGE: &str = "fivetran_sdk.v2";

fn contract_of(file: &FileDescriptorProto, lines: &mut Vec<String>) {
    let package = file.package();
    let imports = file.dependency.join(" ");
    lines.push(format!(
        "file {} package {package} {} imports {imports}",
        file.name(),
        file.syntax()
    ));
    let prefix = format!(".{package}");
    file.message_type
        .iter()
        .for_each(|message| message_lines(&prefix, message, lines));
    file.enum_type
        .iter()
        .for_each(|e| enum_lines(&prefix, e, lines));
    for service in &file.service {
        for rpc in &service.method {
            let stream = if rpc.server_streaming() {
                "stream "
            } else {
                ""
            };
            let (input, output) = (rpc.input_type(), rpc.output_type());
            lines.push(format!(
                "rpc {prefix}.{}.{} ({input}) returns ({stream}{output})",
                service.name(),
                rpc.name()
            ));
        }
    }
}

fn message_lines(prefix: &str, message: &DescriptorProto, lines: &mut Vec<String>) {
    let name = format!("{prefix}.{}", message.name());
    lines.push(format!("message {name}"));
    for field in &message.field {
        let (label, kind) = (field.label().as_str_name(), field.r#type().as_str_name());
        let mut line = format!(
            "field {name}.{} = {} {label} {kind}",
            field.name(),
            field.number()
        );
        if !field.type_name().is_empty() {
            line += &format!(" {}", field.type_name());
        }
        if let Some(index) = field.oneof_index {
            line += &format!(" oneof {}", message.oneof_decl[index as usize].name());
        }
        if field.proto3_optional() {
            line += " proto3_optional";
        }
        lines.push(line);
    }
    // Map fields arrive as nested *Entry messages, so their key and value types are checked too.
    message
        .nested_type
        .iter()
        .for_each(|nested| message_lines(&name, nested, lines));
    message
        .enum_type
        .iter()
        .for_each(|e| enum_lines(&name, e, lines));
}

fn enum_lines(prefix: &str, e: &EnumDescriptorProto, lines: &mut Vec<String>) {
    for value in &e.value {
        lines.push(format!(
            "enum {prefix}.{}.{} = {}",
            e.name(),
            value.name(),
            value.number()
        ));
    }
}

#[test]
fn our_proto_files_carry_the_published_wire_contract() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let set = protox::compile(["connector_sdk.proto", "common.proto"], [&dir])
        .expect("our .proto files compile");
    let mut ours = Vec::new();
    set.file
        .iter()
        .filter(|f| f.package() == PACKAGE)
        .for_each(|file| contract_of(file, &mut ours));
    ours.sort();

    let fixture =
        std::fs::read_to_string(dir.join("wire_contract.txt")).expect("proto/wire_contract.txt");
    let published: Vec<&str> = fixture
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect();
    let missing: Vec<_> = published
        .iter()
        .filter(|line| !ours.iter().any(|o| o == *line))
        .collect();
    let extra: Vec<_> = ours
        .iter()
        .filter(|o| !published.contains(&o.as_str()))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "published but not ours: {missing:#?}\nours but not published: {extra:#?}"
    );
    assert_eq!(ours.len(), published.len());
}
