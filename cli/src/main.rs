fn main() -> std::process::ExitCode {
    qudag_cli::main()
}
