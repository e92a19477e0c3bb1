fn main() -> std::process::ExitCode {
    zkafka::cli::main()
}
