fn main() {
    println!("pushagent");
}
