export type ChecksumStatus = 'good' | 'bad' | 'unverified';
