// gitops-runner configuration (installed by the gitops-runner package; your
// edits survive upgrades). The hooks and `runner serve` read this file when
// $RUNNER_CONFIG is not set. Check it with:
//
//   runuser -u gitolite3 -- runner doctor
//
// Every field is described in the README (Configuration); unknown fields are
// errors. Secrets are never written here: each is read from a file
// ({ file: PATH }, readable by gitolite3 only, e.g.
// install -m 0640 -o root -g gitolite3 /dev/stdin /etc/gitops-runner/pve-token)
// or from the environment ({ env: NAME }).
{
  // The infra repos to deploy: Gitolite keeps them in
  // /var/lib/gitolite3/repositories. Until one is listed, pushes are refused
  // by the pre-receive hook with a message that says so.
  repos: [
    // { path: '/var/lib/gitolite3/repositories/infra.git' },
  ],

  // The job queue, the evaluation cache and backend state; owned by gitolite3.
  stateDir: '/var/lib/gitops-runner',

  policy: {
    // zones: ['mydomain.com'],   // DNS zones records and certificates may use
  },

  // One section per backend you use; see each backend's README for the fields.
  backends: {
    // proxmox: {
    //   url: 'https://pve.example.net:8006',
    //   tokenId: 'runner@pve!gitops',
    //   tokenSecret: { file: '/etc/gitops-runner/pve-token' },
    //   caFile: '/etc/gitops-runner/pve-root-ca.pem',
    // },
    // route53: {
    //   accessKeyId: { file: '/etc/gitops-runner/aws-key-id' },
    //   secretAccessKey: { file: '/etc/gitops-runner/aws-secret' },
    //   zones: ['mydomain.com'],
    // },
    // acme: {
    //   directory: 'letsencrypt-staging',
    //   email: 'ops@mydomain.com',
    //   zones: ['mydomain.com'],
    //   certRoot: '/etc/letsencrypt',
    //   stateDir: '/var/lib/gitops-runner/acme',
    // },
    // freeipa: {
    //   url: 'https://ipa.example.net',
    //   user: 'gitops',
    //   password: { file: '/etc/gitops-runner/ipa-password' },
    //   caFile: '/etc/ipa/ca.crt',
    //   secretDir: '/var/lib/gitops-runner/ipa-otp',
    // },
  },
}
