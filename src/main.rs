fn main() -> std::process::ExitCode {
    pushagent::cli::main()
}
